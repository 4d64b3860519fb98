/** GPU pools by generation: placement and standard shape of GPU workers, per-worker overrides, rollouts. */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { chartDir, containers, type Manifest, named, podSpec, rendered } from "./support/chart.ts";

/** The chart's default gpuPools, as values.yaml ships them. */
const pools = parse(await Deno.readTextFile(`${chartDir}/values.yaml`), { version: "1.1" }).gpuPools as Record<
  string,
  Manifest
>;

/** The /dev/shm size of a pod spec, or undefined without one. */
function shm(spec: Manifest): string | undefined {
  return spec.volumes.find((v: Manifest) => v.name === "shm")?.emptyDir.sizeLimit;
}

Deno.test("the chart ships a generic gpu pool and a100, h100 and b300 pools selecting nodepool=gpu and gpu-generation", () => {
  assert.deepEqual(Object.keys(pools).sort(), ["a100", "b300", "gpu", "h100"]);
  assert.deepEqual(pools.gpu.nodeSelector, { nodepool: "gpu" });
  for (const generation of ["a100", "h100", "b300"]) {
    assert.deepEqual(pools[generation].nodeSelector, { nodepool: "gpu", "gpu-generation": generation });
  }
  for (const pool of Object.values(pools)) {
    assert.deepEqual(pool.tolerations, [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    assert.ok(pool.gpu >= 1 && pool.resources.requests.cpu && pool.resources.requests.memory && pool.shm);
  }
  assert.deepEqual(pools.gpu.resources, { requests: { cpu: "4", memory: "16Gi" }, limits: { memory: "24Gi" } });
});

Deno.test("a GPU worker takes its pool's placement and shape: nodeSelector, tolerations, resources, GPUs and shm", async () => {
  const workers = Object.fromEntries(
    Object.keys(pools).map((pool) => [`on-${pool}`, { backend: "vllm", model: "m", gpuPool: pool }]),
  );
  const { objects } = await rendered({ values: { workers: { mock: { enabled: false }, ...workers } } });
  for (const [name, pool] of Object.entries(pools)) {
    const deployment = named(objects, "Deployment", `nexus-on-${name}`);
    const spec = podSpec(deployment)!;
    assert.deepEqual(spec.nodeSelector, pool.nodeSelector, `${name}: nodeSelector`);
    assert.deepEqual(spec.tolerations, pool.tolerations, `${name}: tolerations`);
    assert.deepEqual(containers(spec)[0].resources, {
      requests: pool.resources.requests,
      limits: { ...pool.resources.limits, "nvidia.com/gpu": pool.gpu },
    }, `${name}: the pool's shape`);
    assert.equal(shm(spec), pool.shm, `${name}: /dev/shm`);
    assert.equal(deployment.spec.template.metadata.labels["nexus.io/gpu-pool"], name);
  }
});

Deno.test("a worker's own placement, gpu, shm and resources replace its pool's, resources key by key", async () => {
  const { objects } = await rendered({
    values: {
      workers: {
        big: {
          backend: "vllm",
          model: "m",
          gpuPool: "h100",
          gpu: 2,
          shm: "32Gi",
          runtimeClassName: "nvidia",
          affinity: { podAntiAffinity: {} },
          resources: { requests: { cpu: "20" }, limits: { memory: null, "example.com/nic": 1 } },
        },
        pinned: { backend: "sglang", model: "m", gpuPool: "a100", nodeSelector: { "kubernetes.io/hostname": "gpu-7" } },
      },
    },
  });
  const big = podSpec(named(objects, "Deployment", "nexus-big"))!;
  assert.deepEqual(big.nodeSelector, pools.h100.nodeSelector, "not given: the pool's");
  assert.equal(big.runtimeClassName, "nvidia");
  assert.deepEqual(big.affinity, { podAntiAffinity: {} });
  assert.equal(shm(big), "32Gi");
  assert.deepEqual(containers(big)[0].resources, {
    requests: { cpu: "20", memory: pools.h100.resources.requests.memory },
    limits: { "example.com/nic": 1, "nvidia.com/gpu": 2 },
  });
  const pinned = podSpec(named(objects, "Deployment", "nexus-pinned"))!;
  assert.deepEqual(pinned.nodeSelector, { "kubernetes.io/hostname": "gpu-7" });
  assert.deepEqual(pinned.tolerations, pools.a100.tolerations);
});

Deno.test("a pool added under gpuPools takes the generic pool's settings for the fields it leaves out", async () => {
  const { objects } = await rendered({
    values: {
      gpuPools: { l40s: { nodeSelector: { nodepool: "gpu", "gpu-generation": "l40s" }, gpu: 2 } },
      workers: { vllm: { backend: "vllm", model: "m", gpuPool: "l40s" } },
    },
  });
  const spec = podSpec(named(objects, "Deployment", "nexus-vllm"))!;
  assert.deepEqual(spec.nodeSelector, { nodepool: "gpu", "gpu-generation": "l40s" });
  assert.deepEqual(spec.tolerations, pools.gpu.tolerations);
  assert.deepEqual(containers(spec)[0].resources.limits, { ...pools.gpu.resources.limits, "nvidia.com/gpu": 2 });
  assert.equal(shm(spec), pools.gpu.shm);
});

Deno.test("a pool's affinity and runtimeClassName reach its GPU workers, never the gateway or a CPU worker", async () => {
  const affinity = {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{
          matchExpressions: [{ key: "nvidia.com/gpu.product", operator: "In", values: ["NVIDIA-H100-80GB-HBM3"] }],
        }],
      },
    },
  };
  const { objects } = await rendered({
    values: {
      gpuPools: { h100: { affinity, runtimeClassName: "nvidia" } },
      workers: { vllm: { backend: "vllm", model: "m", gpuPool: "h100" }, mock: { gpuPool: "h100" } },
    },
  });
  const vllm = podSpec(named(objects, "Deployment", "nexus-vllm"))!;
  assert.deepEqual(vllm.affinity, affinity);
  assert.equal(vllm.runtimeClassName, "nvidia");
  for (const name of ["nexus-gateway", "nexus-mock"]) {
    const spec = podSpec(named(objects, "Deployment", name))!;
    assert.equal(spec.affinity, undefined, name);
    assert.equal(spec.nodeSelector, undefined, `${name}: a CPU worker ignores gpuPool`);
    assert.equal(shm(spec), undefined, name);
  }
});

Deno.test("a KServe worker's predictor takes its pool's placement and shape", async () => {
  const { objects } = await rendered({
    values: { workers: { llama: { backend: "kserve", model: "x/y", gpuPool: "b300" } } },
  });
  const predictor = named(objects, "InferenceService", "nexus-llama").spec.predictor;
  assert.deepEqual(predictor.nodeSelector, pools.b300.nodeSelector);
  assert.deepEqual(predictor.model.resources.requests, pools.b300.resources.requests);
  assert.equal(predictor.model.resources.limits["nvidia.com/gpu"], 1);
  assert.equal(shm(predictor), pools.b300.shm);
});

Deno.test("GPU workers roll one pod at a time without surging; Recreate and other rolling settings are selectable", async () => {
  const { objects } = await rendered({
    values: {
      workers: {
        mock: {},
        vllm: { backend: "vllm", model: "m" },
        recreate: { backend: "vllm", model: "m", strategy: { type: "Recreate" } },
        wide: { backend: "sglang", model: "m", strategy: { type: "RollingUpdate", maxUnavailable: "50%" } },
        cpu: { strategy: { type: "RollingUpdate", maxSurge: 2 } },
      },
    },
  });
  const strategy = (name: string) => named(objects, "Deployment", name).spec.strategy;
  assert.deepEqual(strategy("nexus-vllm"), {
    type: "RollingUpdate",
    rollingUpdate: { maxSurge: 0, maxUnavailable: 1 },
  });
  assert.deepEqual(strategy("nexus-recreate"), { type: "Recreate" });
  assert.deepEqual(strategy("nexus-wide"), {
    type: "RollingUpdate",
    rollingUpdate: { maxSurge: 0, maxUnavailable: "50%" },
  });
  assert.deepEqual(strategy("nexus-cpu"), { type: "RollingUpdate", rollingUpdate: { maxSurge: 2 } });
  assert.equal(strategy("nexus-mock"), undefined, "CPU workers keep Kubernetes' default");
});
