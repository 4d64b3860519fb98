/**
 * The guides cannot go stale: every values path README.md and docs/ko/README.md quote exists in the chart's values
 * schema, and the Korean guide's helm commands and values examples render with the real helm, while the objects its
 * kubectl commands name are ones those renderings hold.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { chartDir, helmTemplate, type Manifest, manifests, run } from "./support/chart.ts";
import { repoRoot } from "./support/paths.ts";

type Json = Record<string, unknown>;

const schema = JSON.parse(await Deno.readTextFile(`${chartDir}/values.schema.json`)) as Json;
const topLevel = new Set(Object.keys(schema.properties as Json));
const guides = ["README.md", "docs/ko/README.md"];
const korean = await Deno.readTextFile(`${repoRoot}/docs/ko/README.md`);

/** Backticked text that looks like a values path but is not one: the Ingress host's default. */
const notPaths = new Set(["gateway.local"]);

/** Fenced code blocks of a markdown text (also indented ones inside list items), with their language. */
function codeBlocks(markdown: string): Array<{ lang: string; body: string }> {
  return [...markdown.matchAll(/^[ \t]*```(\w*)\n([\s\S]*?)^[ \t]*```/gm)].map((m) => ({ lang: m[1], body: m[2] }));
}

/** Shell commands of the bash blocks, continuation lines joined and comments dropped. */
function shellCommands(markdown: string): string[] {
  return codeBlocks(markdown).filter((b) => b.lang === "bash").flatMap((b) =>
    b.body.replace(/\\\n\s*/g, "").split("\n").map((line) => line.replace(/\s+#.*$/, "").trim())
      .filter((line) => line && !line.startsWith("#"))
  );
}

/** Values paths a guide quotes: `a.b.c` (also `a.b=v` and `a.b: v`) in prose, and every --set / --set-json key. */
function quotedPaths(markdown: string): string[] {
  const prose = markdown.replace(/^[ \t]*```\w*\n[\s\S]*?^[ \t]*```/gm, "");
  const paths = new Set<string>();
  for (const [, span] of prose.matchAll(/`([^`\n]+)`/g)) {
    const m = span.match(/^([a-z][A-Za-z0-9]*(?:\.(?:[A-Za-z0-9_-]+|<[a-z]+>))+)(?:=.*|: .*)?$/);
    if (m && topLevel.has(m[1].split(".")[0]) && !notPaths.has(m[1])) paths.add(m[1]);
  }
  for (const [, key] of markdown.matchAll(/--set(?:-json|-string)?[ =]'?([^=\s']+)=/g)) {
    // Brace expansion, as the shell does it: gateway.image.{repository,tag}.
    const brace = key.match(/^(.*)\{([^}]+)\}(.*)$/);
    for (const path of brace ? brace[2].split(",").map((alt) => brace[1] + alt + brace[3]) : [key]) paths.add(path);
  }
  return [...paths];
}

/** True when `segments` lead somewhere in the JSON schema (a map's <name>, an open object, or a union member). */
function resolves(node: Json | undefined, segments: string[]): boolean {
  if (!node) return false;
  if (segments.length === 0) return true;
  if (Array.isArray(node.anyOf)) return (node.anyOf as Json[]).some((member) => resolves(member, segments));
  const [head, ...rest] = segments;
  const props = node.properties as Record<string, Json> | undefined;
  if (props && head in props) return resolves(props[head], rest);
  // A placeholder (<name>, <field>) stands for any key: any property, or a map's entry.
  if (props && /^<[a-z]+>$/.test(head) && Object.values(props).some((p) => resolves(p, rest))) return true;
  const extra = node.additionalProperties;
  if (extra === undefined || extra === true) return !props; // an open object (affinity, a pod securityContext)
  if (typeof extra === "object" && extra !== null) {
    return Object.keys(extra).length === 0 || resolves(extra as Json, rest);
  }
  return false;
}

for (const guide of guides) {
  Deno.test(`every values path ${guide} quotes exists in the chart's values schema`, async () => {
    const paths = quotedPaths(await Deno.readTextFile(`${repoRoot}/${guide}`));
    assert.ok(paths.length >= 30, `only ${paths.length} values paths found in ${guide}: ${paths}`);
    const missing = paths.filter((path) => !resolves(schema, path.split(".")));
    assert.deepEqual(missing, [], `${guide} quotes values the chart does not have: ${missing.join(", ")}`);
  });
}

Deno.test("the values-path check refuses a path the schema does not have", () => {
  for (const path of ["gateway.replicaz", "workers.<name>.gpuPools", "gpuPools.h100.nodeSelectors", "nope.x"]) {
    assert.equal(resolves(schema, path.split(".")), false, path);
  }
  for (const path of ["workers.<name>.gpuPool", "gpuPools.l40s.resources.requests.cpu", "gateway.affinity.x"]) {
    assert.equal(resolves(schema, path.split(".")), true, path);
  }
});

/** The Korean guide's helm install/upgrade commands as `helm template` arguments (install-only flags dropped). */
function helmRenders(): Array<{ command: string; release: string; namespace: string; args: string[] }> {
  const dropped = new Set(["--create-namespace", "--reuse-values", "--wait", "--atomic", "--install"]);
  return shellCommands(korean).filter((line) => /^helm (install|upgrade) /.test(line)).map((command) => {
    const words = [...command.matchAll(/'[^']*'|\S+/g)].map((m) => m[0].replace(/^'(.*)'$/, "$1"));
    const [, , release, chart, ...rest] = words;
    assert.equal(chart, "charts/nexus", command);
    const args = rest.filter((w, i) => !dropped.has(w) && w !== "--timeout" && rest[i - 1] !== "--timeout");
    const namespace = args[args.indexOf("-n") + 1];
    return { command, release, namespace, args };
  });
}

Deno.test("every helm install and upgrade in docs/ko/README.md renders as written", async () => {
  const renders = helmRenders();
  assert.ok(renders.length >= 8, `only ${renders.length} helm commands found`);
  for (const { command, release, args } of renders) {
    const out = await run("helm", ["template", release, "charts/nexus", ...args]);
    assert.equal(out.code, 0, `${command}\n${out.stderr}`);
  }
});

Deno.test("docs/ko/README.md's other helm and kubectl commands name its release and what its installs render", async () => {
  const renders = helmRenders();
  const releases = new Set(renders.map((r) => `${r.release} -n ${r.namespace}`));
  assert.deepEqual([...releases], ["nexus -n nexus"]);
  const objects: Manifest[] = [];
  for (const { release, args } of renders) {
    const out = await run("helm", ["template", release, "charts/nexus", ...args]);
    objects.push(...manifests(out.stdout));
  }
  const has = (kind: string, name: string) => objects.some((o) => o.kind === kind && o.metadata.name === name);
  const lines = shellCommands(korean);
  for (const line of lines.filter((l) => /^helm (test|rollback|history) /.test(l))) {
    assert.match(line, /^helm \w+ nexus (\d+ )?-n nexus$/, line);
  }
  const kinds: Record<string, string> = { deployment: "Deployment", svc: "Service", secret: "Secret" };
  let named = 0;
  for (const line of lines.filter((l) => /^kubectl -n nexus /.test(l))) {
    for (const m of line.matchAll(/(?:\b(deployment|svc)\/|\bget (svc|secret) )([a-z][-a-z0-9]*)/g)) {
      const [k, name] = [kinds[m[1] ?? m[2]], m[3]];
      assert.ok(has(k, name), `${line}: no ${k} ${name} in the guide's renderings`);
      named++;
    }
    // A Secret the guide has you create is one the rendered workers read.
    for (const [, name] of line.matchAll(/create secret generic (\S+)/g)) {
      assert.ok(JSON.stringify(objects).includes(`"secretKeyRef":{"name":"${name}"`), `${line}: nothing reads ${name}`);
      named++;
    }
  }
  assert.ok(named >= 5, `only ${named} objects named by kubectl commands`);
});

Deno.test("every values example in docs/ko/README.md renders", async () => {
  const examples = codeBlocks(korean).filter((b) => b.lang === "yaml").map((b) => parse(b.body) as Json)
    .filter((values) => Object.keys(values).every((key) => topLevel.has(key)));
  assert.ok(examples.length >= 6, `only ${examples.length} values examples`);
  for (const values of examples) {
    const out = await helmTemplate({ values });
    assert.equal(out.code, 0, `${JSON.stringify(values)}:\n${out.stderr}`);
  }
});
