/** Renders charts/nexus with the real helm and parses what it prints; shared by the chart tests. */
import { parseAllDocuments } from "yaml";
import { repoRoot, tool } from "./paths.ts";

/** The chart's directory. */
export const chartDir = `${repoRoot}/charts/nexus`;

/** A Kubernetes object as rendered. */
// deno-lint-ignore no-explicit-any
export type Manifest = Record<string, any>;

/** What one helm command printed. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool from $NEXUS_BIN (throws when it is not installed) and collects its output. */
export async function run(name: string, args: string[], options: { stdin?: string; cwd?: string } = {}): Promise<Run> {
  const env = { PATH: `${tool(name).replace(/\/[^/]+$/, "")}:${Deno.env.get("PATH") ?? ""}` };
  const child = new Deno.Command(tool(name), {
    args,
    cwd: options.cwd ?? repoRoot,
    env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** How to render: preset/scenario files under charts/nexus and inline values (written to a temp file). */
export interface RenderCase {
  files?: string[];
  values?: unknown;
  release?: string;
}

/** `helm template` of one case (release "nexus" in namespace "nexus" unless told). */
export async function helmTemplate(c: RenderCase): Promise<Run> {
  const args = ["template", c.release ?? "nexus", chartDir, "--namespace", "nexus"];
  for (const file of c.files ?? []) args.push("-f", `${chartDir}/${file}`);
  let temp: string | undefined;
  if (c.values !== undefined) {
    temp = await Deno.makeTempFile({ suffix: ".json" });
    await Deno.writeTextFile(temp, JSON.stringify(c.values));
    args.push("-f", temp);
  }
  try {
    return await run("helm", args);
  } finally {
    if (temp) await Deno.remove(temp);
  }
}

/** The objects of a rendering. */
export function manifests(text: string): Manifest[] {
  return parseAllDocuments(text).map((doc) => doc.toJS()).filter((obj) => obj && typeof obj === "object");
}

/** Renders a case that must succeed and returns its text and objects. */
export async function render(c: RenderCase): Promise<{ text: string; objects: Manifest[] }> {
  const result = await helmTemplate(c);
  if (result.code !== 0) throw new Error(`helm template ${JSON.stringify(c)} failed:\n${result.stderr}`);
  return { text: result.stdout, objects: manifests(result.stdout) };
}

/** Preset files of the chart (values-*.yaml). */
export const presetFiles: string[] = [...Deno.readDirSync(chartDir)]
  .map((e) => e.name).filter((n) => /^values-.+\.yaml$/.test(n)).sort();

/** ct scenario files of the chart (ci/*-values.yaml). */
export const scenarioFiles: string[] = [...Deno.readDirSync(`${chartDir}/ci`)]
  .map((e) => `ci/${e.name}`).filter((n) => n.endsWith("-values.yaml")).sort();

const cache = new Map<string, Promise<{ text: string; objects: Manifest[] }>>();

/** Renders each case once per test run, all started together (helm is the slow part). */
export function rendered(c: RenderCase): Promise<{ text: string; objects: Manifest[] }> {
  const key = JSON.stringify(c);
  if (!cache.has(key)) cache.set(key, render(c));
  return cache.get(key)!;
}

/** Every object of a kind. */
export function ofKind(objects: Manifest[], kind: string): Manifest[] {
  return objects.filter((o) => o.kind === kind);
}

/** The pod spec of a workload (Deployment, Pod) or the predictor of an InferenceService. */
export function podSpec(obj: Manifest): Manifest | undefined {
  if (obj.kind === "Deployment") return obj.spec.template.spec;
  if (obj.kind === "Pod") return obj.spec;
  if (obj.kind === "InferenceService") return obj.spec.predictor;
  return undefined;
}

/** Containers of a pod spec (an InferenceService predictor's model counts as its container). */
export function containers(spec: Manifest): Manifest[] {
  return spec.containers ?? (spec.model ? [spec.model] : []);
}

/** The object of a kind with a name; throws naming both when the rendering lacks it. */
export function named(objects: Manifest[], kind: string, name: string): Manifest {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!found) throw new Error(`${kind}/${name} is not rendered`);
  return found;
}

/** The chart's defaults, every preset and every ct scenario. */
export const everyFileCase: RenderCase[] = [{}, ...[...presetFiles, ...scenarioFiles].map((f) => ({ files: [f] }))];

/** Workloads of a rendering (Deployments, Pods, InferenceServices) with their pod specs. */
export function workloads(objects: Manifest[]): Array<{ obj: Manifest; spec: Manifest }> {
  return objects.flatMap((obj) => {
    const spec = podSpec(obj);
    return spec ? [{ obj, spec }] : [];
  });
}

/** Names of the model workers a rendering deploys (worker Deployments and InferenceServices), sorted. */
export function workerObjectNames(objects: Manifest[]): string[] {
  return [
    ...ofKind(objects, "Deployment").filter((d) => d.metadata.labels["nexus.io/role"] === "worker"),
    ...ofKind(objects, "InferenceService"),
  ].map((w) => w.metadata.name).sort();
}
