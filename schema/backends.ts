/** What differs between serving backends, as one data record the chart templates read (files/backends.json). */
import type { backends } from "./workers.ts";

/** One serving backend: how the chart runs it and how the gateway reaches it. */
export interface Backend {
  /** Default image (empty tag: the chart's appVersion, for Nexus's own image). */
  image: { repository: string; tag: string };
  /** Container and Service port. */
  port: number;
  /** Liveness/readiness/startup probe path. */
  healthPath: string;
  /** Path after host:port where the OpenAI API's /v1 lives (KServe: /openai). */
  basePath: string;
  /** Container command; empty: the image's entrypoint. `$(MODEL_ID)` expands to the worker's model. */
  command: string[];
  /** Arguments before the worker's own args. */
  args: string[];
  /** Backend-specific environment. */
  env: Record<string, string>;
  /** GPUs per replica when the worker does not say. */
  gpu: number;
  /** Loads a model for minutes: gets a startupProbe bounded by startupTimeoutSeconds. */
  slowStart: boolean;
  /** Non-root uid of the restricted security profile. */
  runAsUser: number;
  /** Size of the writable /tmp (HOME): vLLM and SGLang keep compile and kernel caches there. */
  tmpSize: string;
  /** Pass HF_TOKEN from the Secret. */
  hfToken: boolean;
  /** Prometheus gauge of requests waiting in the server's queue (KEDA scales on it); empty: none. */
  queueMetric: string;
  /** deployment: Deployment + Service + HPA; inferenceService: a KServe InferenceService. */
  workload: "deployment" | "inferenceService";
  /**
   * How a terminating pod keeps serving until Kubernetes has taken it out of its Service: the server drains itself
   * when told how long by these variables (in ms), a preStop sleep holds SIGTERM back (servers that stop accepting
   * at once), or nothing (KServe manages its own pods).
   */
  drain: { kind: "env"; delayVariable: string; graceVariable: string } | { kind: "preStop" } | { kind: "none" };
}

/**
 * What vLLM, SGLang and KServe's runtimes share: one GPU, minutes to load a model, a gated model's HF_TOKEN, and USER
 * (torch asks getpass.getuser() at import, which fails for a uid without a passwd entry unless USER is set; the
 * imageUser security profile leaves USER and HOME to the image).
 */
const modelServer = {
  env: { USER: "nexus" },
  gpu: 1,
  slowStart: true,
  runAsUser: 1000,
  tmpSize: "10Gi",
  hfToken: true,
} as const;

/** The backends, keyed by `workers.<name>.backend`. */
export const backendRecords: Record<(typeof backends)[number], Backend> = {
  mock: {
    image: { repository: "ghcr.io/nexus-llm/nexus-model-worker", tag: "" },
    port: 8001,
    healthPath: "/health",
    basePath: "",
    command: [],
    args: [],
    env: { WORKER_PORT: "8001", WORKER_MODEL: "$(MODEL_ID)" },
    gpu: 0,
    slowStart: false,
    runAsUser: 1993,
    tmpSize: "256Mi",
    hfToken: false,
    queueMetric: "vllm:num_requests_waiting",
    workload: "deployment",
    drain: { kind: "env", delayVariable: "WORKER_DRAIN_DELAY_MS", graceVariable: "WORKER_SHUTDOWN_GRACE_MS" },
  },
  vllm: {
    image: { repository: "vllm/vllm-openai", tag: "v0.11.0" },
    port: 8000,
    healthPath: "/health",
    basePath: "",
    command: ["vllm", "serve"],
    args: ["$(MODEL_ID)", "--host", "0.0.0.0", "--port", "8000"],
    ...modelServer,
    queueMetric: "vllm:num_requests_waiting",
    workload: "deployment",
    drain: { kind: "preStop" },
  },
  sglang: {
    image: { repository: "lmsysorg/sglang", tag: "v0.5.12" },
    port: 30000,
    healthPath: "/health",
    basePath: "",
    command: ["python3", "-m", "sglang.launch_server"],
    args: ["--model-path", "$(MODEL_ID)", "--host", "0.0.0.0", "--port", "30000", "--enable-metrics"],
    ...modelServer,
    queueMetric: "sglang:num_queue_reqs",
    workload: "deployment",
    drain: { kind: "preStop" },
  },
  kserve: {
    image: { repository: "", tag: "" },
    port: 80,
    healthPath: "",
    basePath: "/openai",
    command: [],
    args: [],
    ...modelServer,
    queueMetric: "",
    workload: "inferenceService",
    drain: { kind: "none" },
  },
};
