/** zod types of the model workers (`workers.<name>`). */
import { z } from "zod";
import { autoscaling, intOrPercent, probeTimings, quantity, toleration, workerImage } from "./common.ts";
import { containerExtras, podScheduling, workerSecurityOverrides } from "./pod.ts";

/** The serving backends a worker can run; their differences live in one record (schema/backends.ts). */
export const backends = ["mock", "vllm", "sglang", "kserve"] as const;

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

/** A KEDA ScaledObject that scales a worker on its queue length from Prometheus, instead of the CPU HPA. */
const keda = z.strictObject({
  enabled: z.boolean().default(false).describe(
    "Create a KEDA ScaledObject (keda.sh/v1alpha1; KEDA must be installed) instead of the CPU HPA; replica bounds " +
      "and behavior come from autoscaling.",
  ),
  serverAddress: z.string().default("").describe(
    "Prometheus address KEDA queries (required when enabled), e.g. http://prometheus-operated.monitoring.svc:9090.",
  ),
  query: z.string().default("").describe(
    "PromQL whose value, divided by the replicas, is compared with threshold. Empty: the backend's queue length " +
      "summed over the worker's Service, sum(vllm:num_requests_waiting{namespace=...,service=...}) " +
      "(sglang:num_queue_reqs for sglang), as the chart's ServiceMonitor labels it.",
  ),
  threshold: z.number().positive().default(5).describe("Waiting requests per replica that trigger a scale-up."),
  pollingInterval: z.int().min(1).default(15).describe("Seconds between two queries."),
  cooldownPeriod: z.int().min(0).default(300).describe(
    "Seconds after the last active trigger before scaling to minReplicas.",
  ),
  authenticationRef: z.string().default("").describe(
    "TriggerAuthentication holding Prometheus credentials; empty: none.",
  ),
}).prefault({}).describe("Queue-length autoscaling with KEDA (Deployment workers).");

/** A Gateway API Inference Extension InferencePool over a worker's pods. */
const inferencePool = z.strictObject({
  enabled: z.boolean().default(false).describe(
    "Create an InferencePool (inference.networking.k8s.io/v1) selecting this worker's pods, for an " +
      "inference-aware Gateway (Deployment workers).",
  ),
  endpointPicker: z.strictObject({
    name: z.string().default("").describe("Service of the endpoint picker (EPP) for this pool; empty: none."),
    port: z.int().min(1).max(65535).default(9002).describe("The endpoint picker Service's port."),
    failureMode: z.enum(["FailClose", "FailOpen"]).default("FailClose").describe(
      "What the Gateway does when the endpoint picker does not answer.",
    ),
  }).prefault({}).describe("endpointPickerRef of the InferencePool."),
}).prefault({}).describe("Gateway API Inference Extension pool of this worker.");

/** How a Deployment worker replaces its pods. */
const strategy = z.strictObject({
  type: z.enum(["RollingUpdate", "Recreate"]).describe("RollingUpdate or Recreate."),
  maxSurge: intOrPercent.optional().describe(
    "Extra pods during a rolling update; unset: 0 for GPU workers, Kubernetes' 25% for CPU workers.",
  ),
  maxUnavailable: intOrPercent.optional().describe(
    "Pods down during a rolling update; unset: 1 for GPU workers, Kubernetes' 25% for CPU workers.",
  ),
}).optional().describe(
  "Deployment update strategy. Unset: GPU workers RollingUpdate with maxSurge 0 and maxUnavailable 1 (one pod at a " +
    "time, no spare GPU needed), CPU workers Kubernetes' default.",
);

/** One model worker. */
export const worker = z.strictObject({
  enabled: z.boolean().default(true).describe("Deploy this worker and list it in GATEWAY_UPSTREAMS."),
  backend: z.enum(backends).default("mock").describe(
    "mock (Nexus's CPU mock), vllm, sglang, or kserve (an InferenceService).",
  ),
  model: z.string().min(1).default("mock-worker").describe("Model id served (vLLM --model, SGLang --model-path)."),
  image: workerImage,
  args: z.array(z.string()).default([]).describe("Extra arguments appended to the backend's command line."),
  env: z.record(z.string(), z.string()).default({}).describe(
    "Extra environment variables for the worker container (not the ones the chart sets, e.g. MODEL_ID).",
  ),
  ...containerExtras("worker"),
  replicas: z.int().min(0).default(1).describe("Replicas when autoscaling is off."),
  gpu: z.int().min(0).optional().describe(
    "nvidia.com/gpu per replica; above 0 makes this a GPU worker, scheduled on its gpuPool. " +
      "Unset: the pool's gpu for vllm, sglang and kserve, 0 for mock.",
  ),
  gpuPool: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).default("gpu").describe(
    "Name of the GPU pool (a key of gpuPools) a GPU worker runs on and takes its placement and shape from. " +
      "CPU workers ignore it. (The object form of chart 0.1.0 fails and says what to write.)",
  ),
  nodeSelector: z.record(z.string(), z.string()).optional().describe(
    "Node selector of this worker; given, it replaces its pool's.",
  ),
  tolerations: z.array(toleration).optional().describe("Tolerations of this worker; given, they replace its pool's."),
  affinity: z.record(z.string(), z.unknown()).optional().describe(
    "Affinity of this worker; given, it replaces its pool's.",
  ),
  runtimeClassName: z.string().optional().describe("RuntimeClass of this worker; given, it replaces its pool's."),
  shm: z.string().regex(/^[0-9]+(Mi|Gi)$/).optional().describe(
    "Size of /dev/shm; given, it replaces its pool's (CPU workers: none unless given).",
  ),
  resources: z.strictObject({
    requests: z.record(z.string(), z.union([quantity, z.null()])).default({ cpu: "100m", memory: "128Mi" })
      .describe("Resource requests."),
    limits: z.record(z.string(), z.union([quantity, z.null()])).default({ memory: "256Mi" }).describe(
      "Resource limits (the gpu count is added as nvidia.com/gpu).",
    ),
  }).prefault({}).describe(
    "Container resources. A GPU worker starts from its pool's shape and each key given here replaces the pool's " +
      "(null removes it); a CPU worker's default is the one shown.",
  ),
  autoscaling: autoscaling(true, 1, 3, "CPU-based HorizontalPodAutoscaler for this worker."),
  keda,
  pdb: z.strictObject({
    enabled: z.boolean().default(true).describe("Create a PodDisruptionBudget (Deployment workers)."),
    maxUnavailable: intOrPercent.default(1).describe(
      "Pods a voluntary disruption (node drain) may take down at once.",
    ),
    minAvailable: intOrPercent.optional().describe(
      "Pods kept during voluntary disruptions; set, replaces maxUnavailable.",
    ),
  }).prefault({}).describe("PodDisruptionBudget of this worker."),
  strategy,
  inferencePool,
  cache,
  startupTimeoutSeconds: z.int().min(10).default(1800).describe(
    "How long a slow backend (vllm, sglang) may take to load its model before its startupProbe fails.",
  ),
  probes: z.strictObject({
    liveness: probeTimings({ periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 }, "Liveness probe timings."),
    readiness: probeTimings({ periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 2 }, "Readiness probe timings."),
    startup: z.strictObject({
      periodSeconds: z.int().min(1).default(10).describe("Seconds between probes."),
      timeoutSeconds: z.int().min(1).default(5).describe("Seconds a probe may take."),
    }).prefault({}).describe(
      "startupProbe timings of slow backends (vllm, sglang); its failureThreshold follows from startupTimeoutSeconds.",
    ),
  }).prefault({}).describe("Probe timings (the chart sets what they check: the backend's health path)."),
  ...podScheduling("worker"),
  securityProfile: z.enum(["restricted", "imageUser"]).default("restricted").describe(
    "restricted: the backend's fixed non-root uid, read-only root, HOME=/tmp and USER set for torch. imageUser: the " +
      "image's own user (root for the vLLM and SGLang images) with a writable root; capabilities still dropped, no " +
      "privilege escalation.",
  ),
  ...workerSecurityOverrides,
  drainDelaySeconds: z.int().min(0).default(5).describe(
    "Seconds a terminating worker keeps serving while Kubernetes removes it from its Service (mock: " +
      "WORKER_DRAIN_DELAY_MS, answers say Connection: close; vllm and sglang: a preStop sleep before SIGTERM).",
  ),
  drainGraceSeconds: z.int().min(0).default(30).describe(
    "Then, seconds in-flight requests get to finish (mock: WORKER_SHUTDOWN_GRACE_MS). The pod's " +
      "terminationGracePeriodSeconds is drainDelaySeconds + drainGraceSeconds + 5.",
  ),
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
