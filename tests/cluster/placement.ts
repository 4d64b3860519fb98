/**
 * Placement and API assertions run by scripts/cluster/test.sh against the local cluster (KUBECONFIG set by it), after
 * `ct lint-and-install`. Not a *_test.ts file on purpose: `deno task test` must not need a cluster.
 *
 * Real helm installs the chart's own ci/*-values.yaml scenarios with the local images; kubectl reads what the API
 * server and the scheduler made of them. The CPU pods run on the real node; kwok simulates the GPU nodes and pods.
 */
import assert from "node:assert/strict";
import { chartDir as chart, run } from "../support/chart.ts";
import {
  dropNamespace as drop,
  getJson,
  install,
  localImagesValues,
  must,
  waitFor as eventually,
} from "../support/kube.ts";

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { nodeName?: string; containers: { resources?: { limits?: Record<string, string> } }[] };
  status: { phase: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/** Pods of one release in a namespace. */
async function pods(namespace: string, release: string): Promise<Pod[]> {
  return (await getJson(["pods", "-n", namespace, "-l", `app.kubernetes.io/instance=${release}`])).items;
}

/** A pod's app.kubernetes.io/component label (gateway, redis, worker-<name>). */
function component(pod: Pod): string | undefined {
  return pod.metadata.labels?.["app.kubernetes.io/component"];
}

/** True when a pod asks for a GPU. */
function wantsGpu(pod: Pod): boolean {
  return pod.spec.containers.some((c) => Number(c.resources?.limits?.["nvidia.com/gpu"] ?? 0) > 0);
}

interface NodeKind {
  /** The node's `nodepool` label. */
  pool: string;
  /** A real kubelet, not a node kwok simulates. */
  real: boolean;
}

/** Node name to its pool and whether it is real. */
async function nodeKinds(): Promise<Map<string, NodeKind>> {
  const nodes = (await getJson(["nodes"])).items as {
    metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
  }[];
  return new Map(nodes.map((n) => [n.metadata.name, {
    pool: n.metadata.labels.nodepool ?? "",
    real: n.metadata.annotations?.["kwok.x-k8s.io/node"] !== "fake",
  }]));
}

const noLeaks = { sanitizeOps: false, sanitizeResources: false };

// vllm-gpu is placed here rather than by ct: its only model server is a simulated GPU pod, so its helm test (a real
// chat completion) cannot pass (scripts/cluster/test.sh).
const placements = [
  { scenario: "sglang-canary", gpuWorkers: ["vllm", "sglang"], cpuComponents: ["gateway", "redis", "worker-mock"] },
  { scenario: "vllm-gpu", gpuWorkers: ["vllm"], cpuComponents: ["gateway", "redis"] },
];

for (const { scenario, gpuWorkers, cpuComponents } of placements) {
  Deno.test({
    name: `${scenario}: GPU workers run on the KWOK GPU nodes only; ${
      cpuComponents.join(", ")
    } run Ready on the real CPU node`,
    ...noLeaks,
    fn: async () => {
      const release = `placement-${scenario}`;
      try {
        await install(release, scenario, ["--wait", "--timeout", "300s"]);
        const nodes = await nodeKinds();
        const all = await pods(release, release);
        const gpu = all.filter(wantsGpu);
        const cpu = all.filter((p) => !wantsGpu(p));
        for (const name of gpuWorkers) {
          assert.ok(gpu.some((p) => component(p) === `worker-${name}`), `no GPU pod for worker ${name}`);
        }
        for (const name of cpuComponents) {
          assert.ok(cpu.some((p) => component(p) === name), `no CPU pod for ${name}`);
        }
        for (const pod of gpu) {
          assert.equal(pod.status.phase, "Running", `${pod.metadata.name} is ${pod.status.phase}`);
          assert.deepEqual(nodes.get(pod.spec.nodeName ?? ""), { pool: "gpu", real: false }, pod.metadata.name);
        }
        for (const pod of cpu) {
          const ready = pod.status.conditions?.find((c) => c.type === "Ready")?.status;
          assert.equal(ready, "True", `${pod.metadata.name} is not Ready: ${JSON.stringify(pod.status.conditions)}`);
          assert.deepEqual(nodes.get(pod.spec.nodeName ?? ""), { pool: "cpu", real: true }, pod.metadata.name);
        }
      } finally {
        await drop(release);
      }
    },
  });
}

Deno.test({
  name: "a GPU worker whose tolerations are removed stays Pending because the GPU taint holds",
  ...noLeaks,
  fn: async () => {
    const release = "no-toleration";
    try {
      await install(release, "vllm-gpu", ["--set-json", "gpuPools.gpu.tolerations=[]"]);
      const pod = await eventually("the scheduler to refuse the GPU pod", async () => {
        const gpu = (await pods(release, release)).filter(wantsGpu);
        return gpu.find((p) => p.status.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False"));
      });
      const scheduled = pod.status.conditions!.find((c) => c.type === "PodScheduled")!;
      assert.equal(pod.status.phase, "Pending");
      assert.equal(pod.spec.nodeName, undefined);
      assert.equal(scheduled.reason, "Unschedulable");
      // Every GPU node is ruled out by its taint (the CPU nodes by the gpuPool nodeSelector).
      const gpuNodes = [...(await nodeKinds()).values()].filter((node) => node.pool === "gpu").length;
      assert.match(scheduled.message ?? "", new RegExp(`\\b${gpuNodes} node\\(s\\) had untolerated taint`));
    } finally {
      await drop(release);
    }
  },
});

const customObjects = [
  { scenario: "kserve", resource: "inferenceservices.serving.kserve.io" },
  { scenario: "gatewayapi", resource: "httproutes.gateway.networking.k8s.io" },
  { scenario: "ingress", resource: "servicemonitors.monitoring.coreos.com" },
  { scenario: "keda-inferencepool", resource: "scaledobjects.keda.sh" },
  { scenario: "keda-inferencepool", resource: "inferencepools.inference.networking.k8s.io" },
];

for (const { scenario, resource } of customObjects) {
  Deno.test({
    name: `the ${scenario} scenario's ${resource.split(".")[0]} is accepted, and its CRD schema is enforced`,
    ...noLeaks,
    fn: async () => {
      const release = `crd-${resource.split(".")[0]}`;
      try {
        // No --wait: the pods of these scenarios are ct's to prove; here only the API server's answer counts.
        await install(release, scenario);
        const items = JSON.parse(await must("kubectl", ["get", resource, "-n", release, "-o", "json"])).items as {
          metadata: Record<string, unknown>;
          spec: unknown;
          apiVersion: string;
          kind: string;
        }[];
        assert.equal(items.length, 1, `expected one ${resource} in ${release}`);
        // The same object with a spec of the wrong type must be refused: the API server validates against the CRD.
        const { name, namespace } = items[0].metadata as { name: string; namespace: string };
        const broken = { ...items[0], metadata: { name, namespace }, spec: "not-an-object" };
        const file = await Deno.makeTempFile({ suffix: ".json" });
        try {
          await Deno.writeTextFile(file, JSON.stringify(broken));
          const refused = await run("kubectl", ["apply", "--dry-run=server", "-f", file]);
          assert.notEqual(refused.code, 0, `a broken ${resource} was accepted`);
          assert.match(refused.stderr, /spec.*must be of type object/);
        } finally {
          await Deno.remove(file);
        }
      } finally {
        await drop(release);
      }
    },
  });
}

const badValues = [
  { what: "an unknown exposure mode", set: "gateway.expose.mode=nodePort", names: /mode/ },
  { what: "a misspelt key", set: "gateway.replicaz=2", names: /replicaz/ },
];

for (const { what, set, names } of badValues) {
  Deno.test({
    name: `helm refuses ${what} before creating anything`,
    ...noLeaks,
    fn: async () => {
      const release = "bad-value";
      try {
        await must("kubectl", ["create", "namespace", release]);
        const result = await run("helm", ["install", release, chart, "--namespace", release, "--set", set]);
        assert.notEqual(result.code, 0, `helm accepted --set ${set}`);
        assert.match(result.stderr, /values don't meet the specifications of the schema/);
        assert.match(result.stderr, names);
        const left = await must("kubectl", [
          "get",
          "all,configmaps,secrets,serviceaccounts,ingresses,networkpolicies,poddisruptionbudgets",
          "-n",
          release,
          "-l",
          `app.kubernetes.io/instance=${release}`,
          "-o",
          "name",
        ]);
        assert.equal(left.trim(), "", `objects were created:\n${left}`);
        const releases = await must("kubectl", ["get", "secrets", "-n", release, "-l", "owner=helm", "-o", "name"]);
        assert.equal(releases.trim(), "", "helm recorded a release");
      } finally {
        await run("kubectl", ["delete", "namespace", release, "--ignore-not-found"]);
      }
    },
  });
}

/** Node name to its labels. */
async function nodeLabels(): Promise<Map<string, Record<string, string>>> {
  const nodes = JSON.parse(await must("kubectl", ["get", "nodes", "-o", "json"])).items as {
    metadata: { name: string; labels: Record<string, string> };
  }[];
  return new Map(nodes.map((n) => [n.metadata.name, n.metadata.labels]));
}

Deno.test({
  name: "GPU workers land only on their pool's generation with its shape; a generation without nodes stays Pending",
  ...noLeaks,
  fn: async () => {
    const release = "gpu-pools";
    const worker = (pool: string, replicas: number) => ({
      backend: "vllm",
      model: "m",
      gpuPool: pool,
      replicas,
      autoscaling: { enabled: false },
    });
    const values = await Deno.makeTempFile({ suffix: ".json" });
    try {
      await Deno.writeTextFile(
        values,
        JSON.stringify({
          workers: {
            mock: { enabled: false },
            h100w: worker("h100", 2),
            a100w: worker("a100", 1),
            b300w: worker("b300", 1),
          },
        }),
      );
      await must("helm", [
        "install",
        release,
        chart,
        "-n",
        release,
        "--create-namespace",
        "--values",
        localImagesValues,
        "--values",
        values,
      ]);
      // The pools as the release holds them (chart defaults and all), read back from the live release.
      const computed = JSON.parse(await must("helm", ["get", "values", release, "-n", release, "--all", "-o", "json"]));
      const pools = computed.gpuPools as Record<
        string,
        { gpu: number; resources: Record<string, Record<string, string>> }
      >;
      const ofWorker = (all: Pod[], name: string) =>
        all.filter((p) => p.metadata.labels?.["app.kubernetes.io/component"] === `worker-${name}`);
      const all = await eventually("the h100 and a100 workers to run and the b300 worker to be refused", async () => {
        const current = await pods(release, release);
        const running = [...ofWorker(current, "h100w"), ...ofWorker(current, "a100w")];
        const refused = ofWorker(current, "b300w").some((p) =>
          p.status.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False")
        );
        return running.length === 3 && running.every((p) => p.status.phase === "Running") && refused
          ? current
          : undefined;
      });
      const labels = await nodeLabels();
      for (const [name, generation] of [["h100w", "h100"], ["a100w", "a100"]]) {
        const pool = pools[generation];
        for (const pod of ofWorker(all, name)) {
          const node = labels.get(pod.spec.nodeName ?? "") ?? {};
          assert.equal(node["gpu-generation"], generation, `${pod.metadata.name} runs on ${pod.spec.nodeName}`);
          assert.equal(node.nodepool, "gpu");
          const resources = pod.spec.containers[0].resources as Record<string, Record<string, string>>;
          const asStrings = (m: Record<string, unknown>) =>
            Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
          // The API server sets an extended resource's request to its limit: nvidia.com/gpu appears in both.
          const gpus = { "nvidia.com/gpu": pool.gpu };
          assert.deepEqual(
            asStrings(resources.requests),
            asStrings({ ...pool.resources.requests, ...gpus }),
            `${pod.metadata.name} requests`,
          );
          assert.deepEqual(
            asStrings(resources.limits),
            asStrings({ ...pool.resources.limits, ...gpus }),
            `${pod.metadata.name} limits`,
          );
        }
      }
      const pending = ofWorker(all, "b300w")[0];
      const scheduled = pending.status.conditions!.find((c) => c.type === "PodScheduled")!;
      assert.equal(pending.status.phase, "Pending");
      assert.equal(pending.spec.nodeName, undefined);
      assert.equal(scheduled.reason, "Unschedulable");
      assert.ok(![...labels.values()].some((l) => l["gpu-generation"] === "b300"), "no node of generation b300");
      assert.match(scheduled.message ?? "", /didn't match Pod's node affinity\/selector/);
    } finally {
      await Deno.remove(values);
      await drop(release);
    }
  },
});
