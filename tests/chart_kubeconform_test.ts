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

/** Pod-level values every component takes. */
const podValues = {
  podAnnotations: { "example.com/owner": "ml" },
  podLabels: { team: "inference" },
  priorityClassName: "inference-high",
  topologySpreadConstraints: [{
    maxSkew: 1,
    topologyKey: "topology.kubernetes.io/zone",
    whenUnsatisfiable: "DoNotSchedule",
  }],
  extraEnv: [{ name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }],
  extraEnvFrom: [{ secretRef: { name: "extra" } }],
  extraVolumes: [{ name: "extra", configMap: { name: "extra" } }],
  extraVolumeMounts: [{ name: "extra", mountPath: "/extra", readOnly: true }],
  securityContext: { capabilities: { add: ["NET_BIND_SERVICE"] } },
};

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
  {
    // Every pod-level value, the pools, a LoadBalancer Service, KEDA and an InferencePool, on every kind of pod.
    values: {
      global: { imageRegistry: "mirror.example.com:5000/hub" },
      imagePullSecrets: [{ name: "regcred" }],
      gateway: {
        ...podValues,
        image: { digest: `sha256:${"0".repeat(64)}` },
        service: {
          type: "LoadBalancer",
          nodePort: 30080,
          loadBalancerClass: "service.k8s.aws/nlb",
          loadBalancerIP: "203.0.113.7",
          loadBalancerSourceRanges: ["10.0.0.0/8"],
          externalTrafficPolicy: "Local",
        },
        autoscaling: { behavior: { scaleDown: { stabilizationWindowSeconds: 600 } } },
        podSecurityContext: { runAsUser: null, runAsGroup: null, fsGroup: null },
      },
      redis: { podAnnotations: { a: "b" }, podLabels: { team: "x" }, priorityClassName: "p" },
      gpuPools: { h100: { runtimeClassName: "nvidia" } },
      workers: {
        mock: { ...podValues, keda: { enabled: true, serverAddress: "http://p:9090", authenticationRef: "auth" } },
        big: {
          ...podValues,
          backend: "vllm",
          model: "m",
          gpuPool: "h100",
          securityProfile: "imageUser",
          strategy: { type: "RollingUpdate", maxUnavailable: "50%" },
          pdb: { minAvailable: 1 },
          inferencePool: { enabled: true, endpointPicker: { name: "epp" } },
          autoscaling: { behavior: { scaleUp: { stabilizationWindowSeconds: 0 } } },
        },
        llama: { ...podValues, backend: "kserve", model: "x/y", gpuPool: "b300", shm: "8Gi" },
      },
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
  for (
    const kind of [
      "InferenceService",
      "HTTPRoute",
      "ServiceMonitor",
      "Ingress",
      "NetworkPolicy",
      "ScaledObject",
      "InferencePool",
      "PodDisruptionBudget",
    ]
  ) {
    assert.ok(kinds.has(kind), `${kind} was validated`);
  }
});
