/** zod types of the GPU node pools (`gpuPools.<name>`): where GPU workers run and the standard shape they take. */
import { z } from "zod";
import { kubeObject, resources, toleration } from "./common.ts";

/** The taint every GPU node carries, and the toleration that lets GPU workers onto it. */
const gpuToleration = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" } as const;

/** The node label that names a node's GPU generation (set with the node pool, e.g. gpu-generation=h100). */
export const generationLabel = "gpu-generation";

/** One GPU node pool. Its defaults are the generic `gpu` pool's; a pool you add takes them for the fields it omits. */
export const gpuPool = z.strictObject({
  nodeSelector: z.record(z.string(), z.string()).default({ nodepool: "gpu" }).describe(
    "Node labels a worker of this pool must match.",
  ),
  tolerations: z.array(toleration).default([gpuToleration]).describe(
    "Tolerations that let the pool's workers onto its tainted nodes.",
  ),
  affinity: kubeObject("Affinity of the pool's workers (e.g. nvidia.com/gpu.product In [...] for exact SKUs)."),
  runtimeClassName: z.string().default("").describe(
    "RuntimeClass of the pool's workers (e.g. nvidia, where the GPU operator installs one); empty: none.",
  ),
  gpu: z.int().min(1).default(1).describe("nvidia.com/gpu per replica for the pool's workers."),
  resources: resources(
    { cpu: "4", memory: "16Gi" },
    { memory: "24Gi" },
    "The pool's standard worker shape: cpu and memory requests and limits; a worker's own resources override it " +
      "key by key.",
  ),
  shm: z.string().regex(/^[0-9]+(Mi|Gi)$/).default("2Gi").describe(
    "Size of /dev/shm (memory-backed, counted in the memory limit); NCCL and PyTorch workers use it.",
  ),
});

/** A pool for one GPU generation: nodepool=gpu plus the generation label, and a shape sized for that GPU. */
function generation(name: string, cpu: string, memory: string, shm: string): z.input<typeof gpuPool> {
  return {
    nodeSelector: { nodepool: "gpu", [generationLabel]: name },
    tolerations: [gpuToleration],
    affinity: {},
    runtimeClassName: "",
    gpu: 1,
    // Memory request equals its limit, so a GPU node's memory is never overcommitted by its workers.
    resources: { requests: { cpu, memory }, limits: { memory } },
    shm,
  };
}

/** GPU pools keyed by name; `gpu` (nodepool=gpu, any generation) is the one workers use unless they name another. */
export const gpuPools = z.record(z.string().regex(/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/), gpuPool)
  .default({
    gpu: gpuPool.parse({}),
    a100: gpuPool.parse(generation("a100", "8", "64Gi", "8Gi")),
    h100: gpuPool.parse(generation("h100", "16", "128Gi", "16Gi")),
    b300: gpuPool.parse(generation("b300", "24", "256Gi", "32Gi")),
  })
  .describe(
    "GPU node pools keyed by name. A GPU worker (gpu above 0) runs on the pool its gpuPool names and takes the " +
      `pool's placement and shape. gpu selects nodepool=gpu; a100, h100 and b300 also select ${generationLabel}=<name>.`,
  );

/** The removed single-pool value: accepted by the schema only so the chart can say what to write instead. */
export const legacyGpuPool = z.record(z.string(), z.unknown()).optional().describe(
  "Removed in chart 0.2.0 (setting it fails the install and says what to write): the pool is now gpuPools.gpu, " +
    "e.g. gpuPool.nodeSelector becomes gpuPools.gpu.nodeSelector.",
);
