/** Where tests find the repository, ../shared and the tools that scripts/install_tools.sh installs. */

/** Absolute path of the repository root. */
export const repoRoot: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Absolute path of the read-only shared folder (NEXUS_SHARED, or ../shared beside the clone). */
export const sharedDir: string = Deno.env.get("NEXUS_SHARED") ?? `${repoRoot}/../shared`;

const toolsDir = Deno.env.get("NEXUS_TOOLS") ?? `${Deno.env.get("HOME")}/.cache/nexus`;

/** Absolute path of an installed tool: $NEXUS_TOOLS/bin first, then PATH. Throws, never skips, when it is missing. */
export function tool(name: string): string {
  const candidates = [`${toolsDir}/bin/${name}`];
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) if (dir) candidates.push(`${dir}/${name}`);
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* try the next one */ }
  }
  throw new Error(`${name} is not installed: run scripts/install_tools.sh (looked in ${toolsDir}/bin and PATH)`);
}
