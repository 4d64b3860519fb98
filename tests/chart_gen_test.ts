/** The generated chart files are fresh, and the check names a stale one. */
import assert from "node:assert/strict";
import { chartDir } from "./support/chart.ts";
import { repoRoot } from "./support/paths.ts";

async function gen(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${repoRoot}/schema/gen.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("deno task gen:check passes on the committed chart", async () => {
  const { code, stderr } = await gen(["--check"]);
  assert.equal(code, 0, stderr);
});

Deno.test("gen:check fails and names the stale file when a generated file drifts", async () => {
  const copy = await Deno.makeTempDir();
  try {
    const cp = await new Deno.Command("cp", { args: ["-r", `${chartDir}/.`, copy] }).output();
    assert.ok(cp.success);
    await Deno.writeTextFile(`${copy}/values.yaml`, "# edited by hand\n", { append: true });
    await Deno.remove(`${copy}/ci/kserve-values.yaml`);
    const { code, stderr } = await gen(["--check", "--chart-dir", copy]);
    assert.equal(code, 1);
    assert.match(stderr, /charts\/nexus\/values\.yaml/);
    assert.match(stderr, /charts\/nexus\/ci\/kserve-values\.yaml/);
    assert.doesNotMatch(stderr, /values\.schema\.json/);
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
});

Deno.test("a preset that drifts from the values schema fails to type-check", async () => {
  const copy = await Deno.makeTempDir();
  try {
    const cp = await new Deno.Command("cp", { args: ["-r", `${repoRoot}/schema`, copy] }).output();
    assert.ok(cp.success);
    const presets = `${copy}/schema/presets.ts`;
    const text = await Deno.readTextFile(presets);
    const drifted = text.replace(
      'gateway: { defaultUpstream: "vllm", routing: { picker: "prefix" } },',
      'gateway: { defaultUpstream: "vllm", routing: { picker: "prefix" }, replicaz: 2 },',
    );
    assert.notEqual(drifted, text, "the gpu preset's gateway values were found");
    await Deno.writeTextFile(presets, drifted);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--config", `${repoRoot}/deno.json`, presets],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.notEqual(out.code, 0, "deno check accepted a preset with an unknown key");
    assert.match(new TextDecoder().decode(out.stderr), /'replicaz' does not exist in type/);
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
});
