/** The README's environment tables document exactly the variables the gateway reads. */
import assert from "node:assert/strict";
import { repoRoot } from "./support/paths.ts";

/** Variable names in the first column of the README tables under `heading` (a cell may name several). */
function tableVariables(readme: string, heading: string): Set<string> {
  const section = readme.split(`\n## ${heading}\n`)[1]?.split("\n## ")[0];
  assert.ok(section, `README has no "## ${heading}" section`);
  return new Set(
    [...section.matchAll(/^\| (`[A-Z][A-Z0-9_]*`(?:, `[A-Z][A-Z0-9_]*`)*) /gm)]
      .flatMap((m) => [...m[1].matchAll(/`([A-Z0-9_]+)`/g)].map((n) => n[1])),
  );
}

Deno.test("the README's gateway table lists every variable gateway/config.ts reads, and no other", async () => {
  const readme = await Deno.readTextFile(`${repoRoot}/README.md`);
  const source = await Deno.readTextFile(`${repoRoot}/gateway/config.ts`);
  const read = new Set(
    [...source.matchAll(/"((?:GATEWAY_[A-Z0-9_]+)|REDIS_URL)"|env\.((?:GATEWAY_|REDIS_)[A-Z0-9_]+)/g)]
      .map((m) => m[1] ?? m[2]),
  );
  assert.ok(read.size >= 10, `found only ${[...read]} in gateway/config.ts`);
  const documented = tableVariables(readme, "Gateway environment");
  assert.deepEqual([...read].filter((name) => !documented.has(name)), [], "read but not in the README");
  assert.deepEqual([...documented].filter((name) => !read.has(name)), [], "in the README but never read");
});

Deno.test("the README's tracing table lists every OTEL_* variable gateway/tracing_config.ts reads, and no other", async () => {
  const readme = await Deno.readTextFile(`${repoRoot}/README.md`);
  const source = await Deno.readTextFile(`${repoRoot}/gateway/tracing_config.ts`);
  const read = new Set([...source.matchAll(/"(OTEL_[A-Z0-9_]+)"/g)].map((m) => m[1]));
  assert.ok(read.size >= 15, `found only ${[...read]} in gateway/tracing_config.ts`);
  const documented = tableVariables(readme, "Tracing");
  assert.deepEqual([...read].filter((name) => !documented.has(name)), [], "read but not in the README");
  assert.deepEqual([...documented].filter((name) => !read.has(name)), [], "in the README but never read");
});
