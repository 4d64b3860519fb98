/** `dev-key` is the local start task's key only: no other shipped file may carry it as a default. */
import assert from "node:assert/strict";
import { repoRoot } from "./support/paths.ts";

/**
 * Files allowed to name dev-key: the local runner, its wrapper script, the READMEs (the Korean guide says why the
 * cluster smoke test does not use it) and the tests that check it.
 */
const ALLOWED = [/^scripts\/dev\.ts$/, /^scripts\/start\.sh$/, /^README\.md$/, /^docs\/ko\/README\.md$/, /^tests\//];

Deno.test("dev-key appears only in scripts/dev.ts (deno task start), its docs and tests", async () => {
  const output = await new Deno.Command("git", { args: ["grep", "-l", "dev-key"], cwd: repoRoot }).output();
  assert.ok(output.code === 0 || output.code === 1, new TextDecoder().decode(output.stderr));
  const files = new TextDecoder().decode(output.stdout).split("\n").filter(Boolean);
  assert.ok(files.includes("scripts/dev.ts"), "deno task start must still use dev-key");
  assert.deepEqual(files.filter((file) => !ALLOWED.some((allowed) => allowed.test(file))), []);
});
