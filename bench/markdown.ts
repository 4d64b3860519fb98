/** Markdown pieces of BENCHMARKS.md. */

/** A table: the first column left-aligned (names), the others right-aligned (numbers). */
export function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}
