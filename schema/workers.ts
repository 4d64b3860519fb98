/** zod types of the model workers (`workers.<name>`) and of the GPU node pool they may run on. */
import { z } from "zod";
import { autoscaling, kubeObject, stringMap, toleration } from "./common.ts";

/** The serving backends a worker can run; their differences live in one record in templates/_helpers.tpl. */
export const backends = ["mock", "vllm", "sglang", "kserve"] as const;

/** Where GPU workers are scheduled: one description of the GPU node pool. */
export const gpuPool = z.strictObject({
  nodeSelector: z.record(z.string(), z.string()).default({ nodepool: "gpu" }).describe(
    "Node labels a GPU worker must match.",
  ),
  tolerations: z.array(toleration).default([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }])
    .describe("Tolerations that let GPU workers onto the tainted GPU nodes."),
  affinity: kubeObject("Optional affinity for GPU workers (e.g. a GPU product label)."),
  runtimeClassName: z.string().default("").describe(
    "Optional RuntimeClass for GPU workers (e.g. nvidia); empty: none.",
  ),
}).prefault({}).describe(
  "The GPU node pool. Applied to GPU workers only (a worker is a GPU worker when its gpu count is above 0), " +
    "never to the gateway, Redis or CPU workers.",
);

/** A worker's own replacement for some of the gpuPool fields. */
const gpuPoolOverride = z.strictObject({
  nodeSelector: z.record(z.string(), z.string()).optional().describe("Replaces gpuPool.nodeSelector for this worker."),
  tolerations: z.array(toleration).optional().describe("Replaces gpuPool.tolerations for this worker."),
  affinity: z.record(z.string(), z.unknown()).optional().describe("Replaces gpuPool.affinity for this worker."),
  runtimeClassName: z.string().optional().describe("Replaces gpuPool.runtimeClassName for this worker."),
}).default({}).describe("Per-worker override of the GPU pool placement; fields given replace gpuPool's.");

/** The /data model cache of a worker. */
const cache = z.strictObject({
  type: z.enum(["emptyDir", "pvc"]).default("emptyDir").describe("emptyDir (lost on restart) or pvc (kept)."),
  sizeLimit: z.string().default("20Gi").describe("emptyDir size limit."),
  size: z.string().default("50Gi").describe("PVC size (type pvc)."),
  storageClassName: z.string().default("").describe("PVC storage class (type pvc); empty: the cluster default."),
  accessMode: z.enum(["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]).default("ReadWriteOnce").describe(
    "PVC access mode (type pvc). ReadWriteOnce holds replicas to one node; with autoscaling across GPU nodes use " +
      "ReadWriteMany storage (NFS, CephFS, Filestore, EFS).",
  ),
  existingClaim: z.string().default("").describe("Use this existing PVC instead of creating one (type pvc)."),
}).prefault({}).describe("Model cache mounted at /data (HF_HOME points there).");

/** The InferenceService fields of a kserve worker. */
const kserve = z.strictObject({
  modelFormat: z.string().default("huggingface").describe("predictor.model.modelFormat.name (the serving runtime)."),
  runtime: z.string().default("").describe("Optional ServingRuntime name; empty lets KServe choose."),
  storageUri: z.string().default("").describe(
    "Optional storageUri (hf://, s3://, pvc://); empty: model id from the hub.",
  ),
}).prefault({}).describe("InferenceService settings (backend kserve only).");

/** One model worker. */
export const worker = z.strictObject({
  enabled: z.boolean().default(true).describe("Deploy this worker and list it in GATEWAY_UPSTREAMS."),
  backend: z.enum(backends).default("mock").describe(
    "mock (Nexus's CPU mock), vllm, sglang, or kserve (an InferenceService).",
  ),
  model: z.string().min(1).default("mock-worker").describe("Model id served (vLLM --model, SGLang --model-path)."),
  image: z.strictObject({
    repository: z.string().default("").describe("Image repository; empty: the backend's default image."),
    tag: z.string().default("").describe("Image tag; empty: the backend's default tag."),
    pullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent").describe("Image pull policy."),
  }).prefault({}).describe("Container image; empty fields take the backend's default."),
  args: z.array(z.string()).default([]).describe("Extra arguments appended to the backend's command line."),
  env: stringMap("Extra environment variables for the worker container (not the ones the chart sets, e.g. MODEL_ID)."),
  replicas: z.int().min(0).default(1).describe("Replicas when autoscaling is off."),
  gpu: z.int().min(0).optional().describe(
    "nvidia.com/gpu per replica; above 0 makes this a GPU worker, scheduled on gpuPool. " +
      "Unset: 0 for mock, 1 for vllm, sglang and kserve.",
  ),
  resources: z.strictObject({
    requests: z.record(z.string(), z.union([z.string(), z.number()])).default({ cpu: "100m", memory: "128Mi" })
      .describe("Resource requests."),
    limits: z.record(z.string(), z.union([z.string(), z.number()])).default({ memory: "256Mi" }).describe(
      "Resource limits (the gpu count is added as nvidia.com/gpu).",
    ),
  }).prefault({}).describe("Container resources."),
  autoscaling: autoscaling(true, 1, 3, "CPU-based HorizontalPodAutoscaler for this worker."),
  gpuPool: gpuPoolOverride,
  cache,
  startupTimeoutSeconds: z.int().min(10).default(1800).describe(
    "How long a slow backend (vllm, sglang) may take to load its model before its startupProbe fails.",
  ),
  drainDelaySeconds: z.int().min(0).default(5).describe(
    "Seconds a terminating worker keeps serving while Kubernetes removes it from its Service (mock: " +
      "WORKER_DRAIN_DELAY_MS, answers say Connection: close; vllm and sglang: a preStop sleep before SIGTERM).",
  ),
  drainGraceSeconds: z.int().min(0).default(30).describe(
    "Then, seconds in-flight requests get to finish (mock: WORKER_SHUTDOWN_GRACE_MS). The pod's " +
      "terminationGracePeriodSeconds is drainDelaySeconds + drainGraceSeconds + 5.",
  ),
  podAnnotations: stringMap("Extra pod annotations."),
  kserve,
});

/**
 * The workers map: name to worker. Names become Kubernetes names and upstream names. Empty by default, so Helm's
 * merge adds nothing to the workers a user names; the templates deploy one mock worker when none is named.
 */
export const workers = z.record(z.string().regex(/^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$/), worker)
  .default({})
  .describe(
    "Model workers keyed by name (the upstream name in GATEWAY_UPSTREAMS and route policies). Naming workers " +
      "deploys exactly those; none named: one mock worker, `mock` (CPU, model mock-worker), as if `mock: {}` was set.",
  );
