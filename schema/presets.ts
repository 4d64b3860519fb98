/** Preset values files and ct scenarios, typed against the chart values so a drifting preset fails to compile. */
import type { ValuesInput } from "./values.ts";

const llama3 = "meta-llama/Meta-Llama-3-8B-Instruct";

/**
 * vLLM on the generic GPU pool, whose shape is the seed's GPU node pool guide's (1 GPU / 16Gi / 4 vCPU): the worker
 * names the pool and takes its placement and resources.
 */
const vllmWorker = {
  backend: "vllm",
  model: llama3,
  gpuPool: "gpu",
  autoscaling: { enabled: true, minReplicas: 1, maxReplicas: 2, targetCPUUtilizationPercentage: 80 },
  cache: { type: "emptyDir", sizeLimit: "50Gi" },
} as const;

/** The same on the GPU pool with SGLang. */
const sglangWorker = { ...vllmWorker, backend: "sglang" } as const;

/** Small requests so the simulated nodes of the cluster tests hold every scenario. */
const ciSized = {
  resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
} as const;

/** The user-facing presets: charts/nexus/values-<name>.yaml. */
export const presets: Record<string, { about: string; values: ValuesInput }> = {
  mock: {
    about: "The CPU mock worker behind the gateway (also what the chart does with no values).",
    values: { workers: { mock: { enabled: true, backend: "mock", model: "mock-worker", gpu: 0 } } },
  },
  gpu: {
    about: "vLLM on the GPU node pool, each request to the pod that likely holds its prompt's prefix in its KV " +
      "cache (picker prefix); HF_TOKEN from the Secret model-worker-secrets; model cache at /data.",
    values: {
      workers: { vllm: vllmWorker },
      gateway: { defaultUpstream: "vllm", routing: { picker: "prefix" } },
      hfToken: { existingSecret: "model-worker-secrets", key: "HF_TOKEN" },
    },
  },
  sglang: {
    about: "The seed's routing example: vLLM primary, SGLang takes a 10% canary for Llama 3 8B; picker prefix.",
    values: {
      workers: { vllm: vllmWorker, sglang: sglangWorker },
      gateway: {
        defaultUpstream: "vllm",
        routing: { picker: "prefix" },
        routePolicies: { [llama3]: { strategy: "canary", primary: "vllm", canary: "sglang", percent: 10 } },
      },
      hfToken: { existingSecret: "model-worker-secrets", key: "HF_TOKEN" },
    },
  },
  kserve: {
    about: "Llama 3 8B as a KServe InferenceService (huggingface runtime); the gateway calls its predictor's /openai.",
    values: {
      workers: {
        llama: {
          backend: "kserve",
          model: llama3,
          gpuPool: "gpu",
          kserve: { modelFormat: "huggingface" },
        },
      },
      gateway: { defaultUpstream: "llama" },
      hfToken: { existingSecret: "model-worker-secrets", key: "HF_TOKEN" },
    },
  },
};

/** The `ct install` scenarios: charts/nexus/ci/<name>-values.yaml. */
export const scenarios: Record<string, { about: string; values: ValuesInput }> = {
  "mock-clusterip": {
    about: "Mock worker, ClusterIP exposure, internal Redis, generated API key.",
    values: { gateway: { expose: { mode: "clusterIP" } } },
  },
  "vllm-gpu": {
    about: "vLLM on the GPU pool (scheduled onto nodepool=gpu nodes through the taint).",
    values: {
      workers: { vllm: { ...vllmWorker, ...ciSized } },
      gateway: { defaultUpstream: "vllm", routing: { picker: "prefix" } },
    },
  },
  "sglang-canary": {
    about: "vLLM primary with a 10% SGLang canary (picker prefix for that model), both on the GPU pool, plus the " +
      "mock on CPU.",
    values: {
      workers: { mock: {}, vllm: { ...vllmWorker, ...ciSized }, sglang: { ...sglangWorker, ...ciSized } },
      gateway: {
        defaultUpstream: "mock",
        routePolicies: {
          [llama3]: { strategy: "canary", primary: "vllm", canary: "sglang", percent: 10, picker: "prefix" },
        },
      },
    },
  },
  kserve: {
    about: "A KServe InferenceService beside the mock; the gateway routes Llama 3 to its predictor.",
    values: {
      workers: { mock: {}, llama: { backend: "kserve", model: llama3, gpu: 1, ...ciSized } },
      gateway: {
        defaultUpstream: "mock",
        routePolicies: { [llama3]: { strategy: "fallback", upstreams: ["llama"] } },
      },
    },
  },
  ingress: {
    about: "Ingress exposure (ingress-nginx annotations for SSE), with a ServiceMonitor and dashboard.",
    values: {
      gateway: { expose: { mode: "ingress" } },
      serviceMonitor: { enabled: true },
      grafanaDashboard: { enabled: true },
    },
  },
  loadbalancer: {
    about: "The gateway Service as a LoadBalancer, with NetworkPolicies on.",
    values: {
      gateway: { service: { type: "LoadBalancer", loadBalancerSourceRanges: ["0.0.0.0/0"] } },
      networkPolicy: { enabled: true },
    },
  },
  "keda-inferencepool": {
    about: "The mock worker scaled by a KEDA ScaledObject on its queue, with a Gateway API Inference Extension " +
      "InferencePool over its pods, a PodDisruptionBudget and the gateway's extra env, volumes and pod labels.",
    values: {
      workers: {
        mock: {
          keda: { enabled: true, serverAddress: "http://prometheus-operated.monitoring.svc:9090" },
          inferencePool: { enabled: true, endpointPicker: { name: "mock-epp" } },
          podLabels: { team: "inference" },
        },
      },
      gateway: {
        extraEnv: [{ name: "GATEWAY_LOG_LEVEL", value: "debug" }],
        extraVolumes: [{ name: "extra", emptyDir: { sizeLimit: "16Mi" } }],
        extraVolumeMounts: [{ name: "extra", mountPath: "/extra", readOnly: true }],
        podLabels: { team: "inference" },
        autoscaling: { behavior: { scaleDown: { stabilizationWindowSeconds: 600 } } },
      },
    },
  },
  gatewayapi: {
    about: "Gateway API HTTPRoute exposure.",
    values: { gateway: { expose: { mode: "gatewayAPI" } } },
  },
};
