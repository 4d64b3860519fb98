/**
 * Cluster assertions run by scripts/cluster/test.sh against the local control plane (KUBECONFIG set by it), after
 * `ct lint-and-install`. Not a *_test.ts file on purpose: `deno task test` must not need a cluster.
 *
 * Real helm installs the chart's own ci/*-values.yaml scenarios; kubectl reads what the API server and the
 * scheduler made of them. kwok simulates the nodes and pods: nothing here proves that an image runs.
 */
import assert from "node:assert/strict";
import { repoRoot, tool } from "../support/paths.ts";

const chart = `${repoRoot}/charts/nexus`;
const helm = tool("helm");
const kubectl = tool("kubectl");

interface Run {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Runs a command and returns its outcome without throwing. */
async function run(cmd: string, args: string[]): Promise<Run> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { ok: out.success, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Runs a command and returns its stdout; throws with its stderr when it fails. */
async function must(cmd: string, args: string[]): Promise<string> {
  const result = await run(cmd, args);
  if (!result.ok) throw new Error(`${cmd} ${args.join(" ")} failed:\n${result.stderr}`);
  return result.stdout;
}

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { nodeName?: string; containers: { resources?: { limits?: Record<string, string> } }[] };
  status: { phase: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/** Pods of one release in a namespace. */
async function pods(namespace: string, release: string): Promise<Pod[]> {
  const out = await must(kubectl, [
    "get",
    "pods",
    "-n",
    namespace,
    "-l",
    `app.kubernetes.io/instance=${release}`,
    "-o",
    "json",
  ]);
  return JSON.parse(out).items;
}

/** True when a pod asks for a GPU. */
function wantsGpu(pod: Pod): boolean {
  return pod.spec.containers.some((c) => Number(c.resources?.limits?.["nvidia.com/gpu"] ?? 0) > 0);
}

/** Node name to its `nodepool` label. */
async function nodePools(): Promise<Map<string, string>> {
  const nodes = JSON.parse(await must(kubectl, ["get", "nodes", "-o", "json"])).items as {
    metadata: { name: string; labels: Record<string, string> };
  }[];
  return new Map(nodes.map((n) => [n.metadata.name, n.metadata.labels.nodepool ?? ""]));
}

/** Installs one ci/ scenario of the chart into its own namespace; extra args go to helm. */
async function install(release: string, scenario: string, extra: string[] = []): Promise<void> {
  await must(helm, [
    "install",
    release,
    chart,
    "--namespace",
    release,
    "--create-namespace",
    "--values",
    `${chart}/ci/${scenario}-values.yaml`,
    ...extra,
  ]);
}

/** Removes a release's namespace without waiting (the cluster is torn down after the run anyway). */
async function drop(namespace: string): Promise<void> {
  await run(kubectl, ["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]);
}

/** Polls until check returns a value (at most about two minutes); throws with the last reason otherwise. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 120; i++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`gave up waiting for ${what}`);
}

const noLeaks = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "GPU workers run on GPU nodes only; the gateway, Redis and the mock worker on CPU nodes only",
  ...noLeaks,
  fn: async () => {
    const release = "placement";
    try {
      await install(release, "sglang-canary", ["--wait", "--timeout", "300s"]);
      const pools = await nodePools();
      const all = await pods(release, release);
      const gpu = all.filter(wantsGpu);
      const cpu = all.filter((p) => !wantsGpu(p));
      for (const name of ["vllm", "sglang"]) {
        assert.ok(gpu.some((p) => p.metadata.name.includes(name)), `no GPU pod for worker ${name}`);
      }
      for (const name of ["gateway", "redis", "mock"]) {
        assert.ok(cpu.some((p) => p.metadata.name.includes(name)), `no CPU pod for ${name}`);
      }
      for (const pod of gpu) {
        assert.equal(pod.status.phase, "Running", `${pod.metadata.name} is ${pod.status.phase}`);
        assert.equal(pools.get(pod.spec.nodeName ?? ""), "gpu", `${pod.metadata.name} runs on ${pod.spec.nodeName}`);
      }
      for (const pod of cpu) {
        assert.equal(pod.status.phase, "Running", `${pod.metadata.name} is ${pod.status.phase}`);
        assert.equal(pools.get(pod.spec.nodeName ?? ""), "cpu", `${pod.metadata.name} runs on ${pod.spec.nodeName}`);
      }
    } finally {
      await drop(release);
    }
  },
});

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
      // Every GPU node is ruled out by its taint (the CPU nodes by the gpu pool's nodeSelector).
      const gpuNodes = [...(await nodePools()).values()].filter((pool) => pool === "gpu").length;
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
        await install(release, scenario, ["--wait", "--timeout", "300s"]);
        const items = JSON.parse(await must(kubectl, ["get", resource, "-n", release, "-o", "json"])).items as {
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
          const refused = await run(kubectl, ["apply", "--dry-run=server", "-f", file]);
          assert.equal(refused.ok, false, `a broken ${resource} was accepted`);
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
        await must(kubectl, ["create", "namespace", release]);
        const result = await run(helm, ["install", release, chart, "--namespace", release, "--set", set]);
        assert.equal(result.ok, false, `helm accepted --set ${set}`);
        assert.match(result.stderr, /values don't meet the specifications of the schema/);
        assert.match(result.stderr, names);
        const left = await must(kubectl, [
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
        const releases = await must(kubectl, ["get", "secrets", "-n", release, "-l", "owner=helm", "-o", "name"]);
        assert.equal(releases.trim(), "", "helm recorded a release");
      } finally {
        await run(kubectl, ["delete", "namespace", release, "--ignore-not-found"]);
      }
    },
  });
}

/** Node name to its labels. */
async function nodeLabels(): Promise<Map<string, Record<string, string>>> {
  const nodes = JSON.parse(await must(kubectl, ["get", "nodes", "-o", "json"])).items as {
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
      await must(helm, ["install", release, chart, "-n", release, "--create-namespace", "--values", values]);
      // The pools as the release holds them (chart defaults and all), read back from the live release.
      const computed = JSON.parse(await must(helm, ["get", "values", release, "-n", release, "--all", "-o", "json"]));
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
