/** Waiting for something that happens in another process, bounded so a broken service fails the test, not hangs it. */

/**
 * Runs `check` until it passes: resolves to anything but `false` without throwing. After `timeoutMs` (default 30 s)
 * the last assertion error is rethrown, or an error naming `what`.
 */
export async function eventually(
  check: () => boolean | void | Promise<boolean | void>,
  options: { what?: string; timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (true) {
    let failure: unknown;
    try {
      if (await check() !== false) return;
    } catch (error) {
      failure = error;
    }
    if (Date.now() > deadline) throw failure ?? new Error(`never happened: ${options.what ?? check.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
