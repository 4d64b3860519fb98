/** helm lint on every preset and `ct lint` with ct.yaml and the pinned ../shared/ct configuration. */
import assert from "node:assert/strict";
import { chartDir, presetFiles, run } from "./support/chart.ts";
import { repoRoot, sharedDir } from "./support/paths.ts";

Deno.test("helm lint --strict passes on the defaults and on every preset", async () => {
  const cases = [[], ...presetFiles.map((f) => ["-f", `${chartDir}/${f}`])];
  const results = await Promise.all(cases.map((extra) => run("helm", ["lint", "--strict", chartDir, ...extra])));
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 0, `helm lint ${cases[i].join(" ")}:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

Deno.test("ct lint passes with ct.yaml and the lintconf and Chart.yaml schema from ../shared/ct", async () => {
  for (const file of ["lintconf.yaml", "chart_schema.yaml"]) Deno.statSync(`${sharedDir}/ct/${file}`);
  const result = await run("ct", ["lint", "--config", "ct.yaml", "--charts", "charts/nexus"]);
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout + result.stderr, /All charts linted successfully/);
  // ct lints once per ci/*-values.yaml scenario.
  assert.match(result.stdout + result.stderr, /ci\/gatewayapi-values\.yaml/);
});

Deno.test("helm, ct, kubeconform and yamllint are the versions scripts/install/chart_tools.sh pins", async () => {
  const script = await Deno.readTextFile(`${repoRoot}/scripts/install/chart_tools.sh`);
  const pinned = (name: string) => script.match(new RegExp(`^${name}_VERSION=(\\S+)$`, "m"))?.[1];
  const cases: Array<[string, string[], string | undefined]> = [
    ["helm", ["version", "--short"], pinned("HELM")],
    ["ct", ["version"], pinned("CT")],
    ["kubeconform", ["-v"], pinned("KUBECONFORM")],
    ["yamllint", ["--version"], pinned("YAMLLINT")],
  ];
  for (const [tool, args, version] of cases) {
    assert.ok(version, `chart_tools.sh pins ${tool}`);
    const out = await run(tool, args);
    assert.ok(
      out.stdout.includes(version),
      `${tool} ${args.join(" ")} reports ${version}:\n${out.stdout}${out.stderr}`,
    );
  }
});
