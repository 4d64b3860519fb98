/**
 * The README's install walk-through is right for this chart: its `helm install` renders as written, and every object,
 * Secret key, port and model its later commands name is what that rendering holds.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import {
  helmTemplate,
  type Manifest,
  manifests,
  named,
  ofKind,
  podSpec,
  run,
  workerObjectNames,
} from "./support/chart.ts";
import { repoRoot } from "./support/paths.ts";

/** The text of the README section under `heading` (up to the next heading of the same level). */
async function readmeSection(heading: string): Promise<string> {
  const readme = await Deno.readTextFile(`${repoRoot}/README.md`);
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has the section ${heading}`);
  const level = heading.slice(0, heading.indexOf(" ") + 1);
  const end = readme.indexOf(`\n${level}`, start + heading.length + 2);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The shell commands of the README's "Install and smoke-test" section, continuation lines joined. */
async function walkThrough(): Promise<string[]> {
  const section = await readmeSection("### Install and smoke-test");
  const blocks = [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks.join("\n").replace(/\\\n\s*/g, "").split("\n")
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line && !line.startsWith("#"));
}

/** The one command that matches, and its regexp groups. */
function command(lines: string[], pattern: RegExp): RegExpMatchArray {
  const found = lines.map((line) => line.match(pattern)).filter((m) => m !== null);
  assert.equal(found.length, 1, `exactly one README command matches ${pattern}`);
  return found[0]!;
}

Deno.test("the README's helm install renders, and its later commands name what it renders", async () => {
  const lines = await walkThrough();
  const install = command(lines, /^helm install (\S+) (charts\/nexus) -n (\S+) (.*)$/);
  const [release, namespace] = [install[1], install[3]];
  const flags = install[4].split(/\s+/);
  const out = await run("helm", ["template", release, install[2], "-n", namespace, ...flags]);
  assert.equal(out.code, 0, `the README's helm install fails to render:\n${out.stderr}`);
  const objects = manifests(out.stdout);
  const find = (kind: string, name: string): Manifest => named(objects, kind, name);

  // The Secret it tells you to create is the one the model workers read HF_TOKEN from.
  const hf = command(lines, /^kubectl -n (\S+) create secret generic (\S+) --from-literal=([A-Z_]+)=/);
  assert.equal(hf[1], namespace);
  const gpuWorkers = ofKind(objects, "Deployment").filter((d) =>
    d.spec.template.metadata.labels["nexus.io/gpu"] === "true"
  );
  assert.ok(gpuWorkers.length > 0, "the walk-through installs a GPU worker");
  for (const worker of gpuWorkers) {
    const ref = podSpec(worker)!.containers[0].env.find((e: Manifest) => e.name === "HF_TOKEN")?.valueFrom
      ?.secretKeyRef;
    assert.deepEqual([ref?.name, ref?.key], [hf[2], hf[3]], `${worker.metadata.name} reads HF_TOKEN from it`);
  }

  // The image it builds and pushes is the one the gateway runs.
  const pushed = command(lines, /^IMAGE_REPO=(\S+) IMAGE_TAG=(\S+) scripts\/images\.sh push gateway$/);
  const gatewayPod = podSpec(find("Deployment", `${release}-gateway`))!;
  assert.equal(gatewayPod.containers[0].image, `${pushed[1]}:${pushed[2]}`);

  for (
    const [, ns, name] of lines.flatMap((l) => [...l.matchAll(/kubectl -n (\S+) rollout status deployment\/(\S+)/g)])
  ) {
    assert.equal(ns, namespace);
    find("Deployment", name);
  }

  // The key-reading command reads a key the gateway's Secret holds.
  const key = command(lines, /kubectl -n (\S+) get secret (\S+) -o jsonpath='\{\.data\.([A-Z_]+)\}'/);
  assert.equal(key[1], namespace);
  assert.ok(find("Secret", key[2]).data[key[3]], `Secret ${key[2]} holds ${key[3]}`);
  const keyEnv = gatewayPod.containers[0].env.find((e: Manifest) => e.name === "GATEWAY_API_KEYS");
  assert.deepEqual(keyEnv.valueFrom.secretKeyRef, { name: key[2], key: key[3] }, "the gateway reads that key");

  // The port-forward reaches the gateway's Service port, and the curl calls go to the forwarded local port.
  const forward = command(lines, /^kubectl -n (\S+) port-forward svc\/(\S+) (\d+):(\d+) &$/);
  assert.equal(forward[1], namespace);
  const service = find("Service", forward[2]);
  assert.equal(service.spec.selector["app.kubernetes.io/component"], "gateway");
  assert.ok(service.spec.ports.some((p: Manifest) => p.port === Number(forward[4])), `Service port ${forward[4]}`);
  const curls = lines.filter((l) => l.startsWith("curl "));
  assert.equal(curls.length, 2);
  for (const curl of curls) assert.match(curl, new RegExp(`http://localhost:${forward[3]}/`));
  assert.match(curls[0], /\/health$/);

  // The chat completion asks the model the default upstream serves, with the gateway's key header.
  const chat = curls[1];
  assert.match(chat, /-H "X-API-Key: \$NEXUS_KEY"/);
  const model = JSON.parse(chat.match(/-d '(.*)'$/)![1]).model;
  const defaultUpstream = find("ConfigMap", `${release}-gateway`).data.GATEWAY_DEFAULT_UPSTREAM;
  const served = podSpec(find("Deployment", `${release}-${defaultUpstream}`))!.containers[0].env
    .find((e: Manifest) => e.name === "MODEL_ID").value;
  assert.equal(model, served);
  command(lines, new RegExp(`^helm test ${release} -n ${namespace}$`));
});

/** The names of the workers a values example shows: those it names and does not disable, else the default mock. */
function shownWorkers(values: Record<string, unknown>): string[] {
  const workers = values.workers as Record<string, { enabled?: boolean }> | undefined;
  if (workers === undefined || Object.keys(workers).length === 0) return ["mock"];
  return Object.entries(workers).filter(([, w]) => w?.enabled !== false).map(([name]) => name).sort();
}

Deno.test("every values example in README.md's Helm chart section and in the chart's README renders exactly the workers it shows", async () => {
  const section = await readmeSection("## Helm chart");
  const chartReadme = await Deno.readTextFile(`${repoRoot}/charts/nexus/README.md`);
  const examples = [section, chartReadme].flatMap((text) =>
    [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1]) as Record<string, unknown>)
  );
  assert.ok(examples.length >= 3, "the routing, GPU pool and workers examples");
  assert.ok(examples.some((values) => values.workers), "some example names workers");
  for (const values of examples) {
    const out = await helmTemplate({ values });
    assert.equal(out.code, 0, `${JSON.stringify(values)}:\n${out.stderr}`);
    const deployed = workerObjectNames(manifests(out.stdout)).map((name) => name.replace(/^nexus-/, ""));
    assert.deepEqual(deployed, shownWorkers(values), JSON.stringify(values));
  }
});

Deno.test("every helm upgrade in the README's Helm chart section keeps the release's values", async () => {
  const section = await readmeSection("## Helm chart");
  const upgrades = [...section.matchAll(/^\s*(helm upgrade .*)$/gm)].map((m) => m[1]);
  assert.ok(upgrades.length >= 2);
  // Without --reuse-values (or the same -f files) an upgrade resets the GPU preset and the image to the defaults.
  for (const upgrade of upgrades) assert.match(upgrade, /--reuse-values|-f /, upgrade);
});
