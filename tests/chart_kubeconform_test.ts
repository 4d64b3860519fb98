/**
 * kubeconform -strict, offline, on every rendering: Kubernetes schemas of the pinned version and schemas converted
 * from ../shared/crds, both committed under tests/schemas/ (generated from the test cluster's own API server).
 */
import assert from "node:assert/strict";
import { everyFileCase, type RenderCase, rendered, run } from "./support/chart.ts";
import { repoRoot } from "./support/paths.ts";

const schemas = `${repoRoot}/tests/schemas`;

/** The Kubernetes version whose strict standalone schemas are committed (the highest when several are). */
function kubernetesVersion(): string {
  const versions: string[] = [];
  try {
    for (const entry of Deno.readDirSync(`${schemas}/kubernetes`)) {
      const m = entry.name.match(/^v(\d+\.\d+\.\d+)-standalone-strict$/);
      if (m) versions.push(m[1]);
    }
  } catch { /* reported below */ }
  const byNumber = (v: string) => v.split(".").map(Number);
  versions.sort((a, b) => {
    const [x, y] = [byNumber(a), byNumber(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
  const version = versions.at(-1);
  if (!version) {
    throw new Error(
      `no Kubernetes schemas in ${schemas}/kubernetes/v<X.Y.Z>-standalone-strict/: ` +
        "they are generated from the test cluster (deno task cluster:up, issue 4)",
    );
  }
  return version;
}

const cases: RenderCase[] = [
  ...everyFileCase,
  { values: { gateway: { expose: { mode: "ingress", ingress: { tls: { enabled: true } } } } } },
  {
    values: {
      gateway: {
        otel: {
          enabled: true,
          endpoint: "http://otel:4318",
          headersSecret: { name: "otel" },
          resourceAttributes: { a: "b" },
        },
      },
    },
  },
  {
    values: {
      networkPolicy: { enabled: true, metricsFrom: [{ namespaceSelector: { matchLabels: { team: "monitoring" } } }] },
      serviceMonitor: { enabled: true },
      grafanaDashboard: { enabled: true },
      hfToken: { value: "hf_x" },
      redis: { mode: "external", external: { url: "redis://r:6379" } },
      workers: { vllm: { backend: "vllm", model: "m", cache: { type: "pvc" } } },
    },
  },
];

Deno.test("every rendering passes kubeconform -strict against the pinned Kubernetes and CRD schemas", async () => {
  const version = kubernetesVersion();
  const args = [
    "-strict",
    "-summary",
    "-kubernetes-version",
    version,
    "-schema-location",
    `${schemas}/kubernetes/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
    "-schema-location",
    `${schemas}/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`,
    "-",
  ];
  const renders = await Promise.all(cases.map(rendered));
  const results = await Promise.all(renders.map((r) => run("kubeconform", args, { stdin: r.text })));
  const kinds = new Set<string>();
  for (const [i, result] of results.entries()) {
    assert.equal(result.code, 0, `kubeconform on ${JSON.stringify(cases[i])}:\n${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /Invalid: 0, Errors: 0, Skipped: 0/, result.stdout);
    for (const obj of renders[i].objects) kinds.add(obj.kind);
  }
  for (const kind of ["InferenceService", "HTTPRoute", "ServiceMonitor", "Ingress", "NetworkPolicy"]) {
    assert.ok(kinds.has(kind), `${kind} was validated`);
  }
});
