/** Bad values fail `helm template` with a message that names the value (values.schema.json and template checks). */
import assert from "node:assert/strict";
import { helmTemplate, type RenderCase } from "./support/chart.ts";

const bad: Array<{ name: string; case: RenderCase; message: RegExp }> = [
  {
    name: "an unknown key",
    case: { values: { gateway: { replicaz: 2 } } },
    message: /at '\/gateway': additional properties 'replicaz' not allowed/,
  },
  {
    name: "an unknown key inside a worker",
    case: { values: { workers: { mock: { gpus: 1 } } } },
    message: /at '\/workers\/mock': additional properties 'gpus' not allowed/,
  },
  {
    name: "a wrong type",
    case: { values: { gateway: { replicas: "two" } } },
    message: /at '\/gateway\/replicas': got string, want integer/,
  },
  {
    name: "negative replicas",
    case: { values: { workers: { mock: { replicas: -1 } } } },
    message: /at '\/workers\/mock\/replicas': minimum: got -1, want 0/,
  },
  {
    name: "an unknown exposure mode",
    case: { values: { gateway: { expose: { mode: "nodePort" } } } },
    message: /at '\/gateway\/expose\/mode': value must be one of 'clusterIP', 'ingress', 'gatewayAPI', 'loadBalancer'/,
  },
  {
    name: "an unknown backend",
    case: { values: { workers: { tgi: { backend: "tgi" } } } },
    message: /at '\/workers\/tgi\/backend': value must be one of/,
  },
  {
    name: "a canary percent over 100",
    case: {
      values: {
        workers: { vllm: { backend: "vllm", model: "m" } },
        gateway: { routePolicies: { m: { strategy: "canary", primary: "vllm", canary: "mock", percent: 150 } } },
      },
    },
    message: /at '\/gateway\/routePolicies\/m\/percent': maximum: got 150, want 100/,
  },
  {
    name: "an unknown routing strategy",
    case: { values: { gateway: { routePolicies: { m: { strategy: "roundrobin" } } } } },
    message: /at '\/gateway\/routePolicies\/m\/strategy': value must be one of 'canary', 'weighted', 'fallback'/,
  },
  {
    name: "a policy naming an unknown worker",
    case: { values: { gateway: { routePolicies: { m: { strategy: "fallback", upstreams: ["mock", "ghost"] } } } } },
    message: /gateway\.routePolicies\["m"\] names upstream "ghost", which is not an enabled worker or externalUpstream/,
  },
  {
    name: "a policy naming a disabled worker",
    case: {
      values: {
        workers: { mock: {}, vllm: { backend: "vllm", enabled: false } },
        gateway: { routePolicies: { m: { strategy: "canary", primary: "mock", canary: "vllm", percent: 5 } } },
      },
    },
    message: /gateway\.routePolicies\["m"\] names upstream "vllm"/,
  },
  {
    name: "a default upstream that does not exist",
    case: { values: { gateway: { defaultUpstream: "nope" } } },
    message: /gateway\.defaultUpstream: "nope" is not an enabled worker or externalUpstream/,
  },
  {
    name: "no upstream at all",
    case: { values: { workers: { mock: { enabled: false } } } },
    message: /no upstream: enable a worker/,
  },
  {
    name: "a vLLM worker without a model id",
    case: { values: { workers: { vllm: { backend: "vllm" } } } },
    message: /workers\.vllm\.model: set the model id that backend vllm serves/,
  },
  {
    name: "gateway.env repeating a variable the chart sets",
    case: { values: { gateway: { env: { GATEWAY_PORT: "9000" } } } },
    message: /gateway\.env\.GATEWAY_PORT: the chart sets GATEWAY_PORT from gateway\.port/,
  },
  {
    name: "API keys in gateway.env (they would land in the ConfigMap)",
    case: { values: { gateway: { env: { GATEWAY_API_KEYS: "sekret-key" } } } },
    message: /gateway\.env\.GATEWAY_API_KEYS: the chart sets GATEWAY_API_KEYS from gateway\.apiKeys/,
  },
  {
    name: "a worker env repeating a variable the chart sets",
    case: { values: { workers: { mock: { env: { WORKER_PORT: "9" } } } } },
    message: /workers\.mock\.env\.WORKER_PORT: the chart sets WORKER_PORT itself/,
  },
  {
    name: "external Redis without a URL or Secret",
    case: { values: { redis: { mode: "external" } } },
    message: /redis\.external: set url or existingSecret/,
  },
  {
    name: "a worker naming a GPU pool that does not exist",
    case: { values: { workers: { vllm: { backend: "vllm", model: "m", gpuPool: "h200" } } } },
    message: /workers\.vllm\.gpuPool: no GPU pool named "h200" in gpuPools \(known: a100, b300, gpu, h100\)/,
  },
  {
    name: "chart 0.1.0's single gpuPool",
    case: { values: { gpuPool: { nodeSelector: { nodepool: "gpu" } } } },
    message: /gpuPool: chart 0\.2\.0 replaced the single GPU pool with gpuPools; move its fields to gpuPools\.gpu/,
  },
  {
    name: "chart 0.1.0's per-worker gpuPool override",
    case: {
      values: { workers: { big: { backend: "vllm", model: "m", gpuPool: { nodeSelector: { pool: "h100" } } } } },
    },
    message: /workers\.big\.gpuPool: since chart 0\.2\.0 this names a pool of gpuPools.*workers\.big\.nodeSelector/,
  },
  {
    name: "chart 0.1.0's loadBalancer exposure mode",
    case: { values: { gateway: { expose: { mode: "loadBalancer" } } } },
    message: /gateway\.expose\.mode: loadBalancer .* set gateway\.service\.type=LoadBalancer/,
  },
  {
    name: "a Service type Kubernetes does not have",
    case: { values: { gateway: { service: { type: "External" } } } },
    message: /at '\/gateway\/service\/type': value must be one of 'ClusterIP', 'NodePort', 'LoadBalancer'/,
  },
  {
    name: "an image digest that is not sha256",
    case: { values: { gateway: { image: { digest: "latest" } } } },
    message: /at '\/gateway\/image\/digest'/,
  },
  {
    name: "KEDA without a Prometheus address",
    case: { values: { workers: { mock: { keda: { enabled: true } } } } },
    message: /workers\.mock\.keda\.serverAddress: set the Prometheus address KEDA queries/,
  },
  {
    name: "KEDA on a KServe worker",
    case: {
      values: {
        workers: { llama: { backend: "kserve", model: "x", keda: { enabled: true, serverAddress: "http://p" } } },
      },
    },
    message: /workers\.llama\.keda: a kserve worker is an InferenceService/,
  },
  {
    name: "an InferencePool on a KServe worker",
    case: { values: { workers: { llama: { backend: "kserve", model: "x", inferencePool: { enabled: true } } } } },
    message: /workers\.llama\.inferencePool: a kserve worker is an InferenceService/,
  },
  {
    name: "podLabels replacing a label the chart selects on",
    case: { values: { gateway: { podLabels: { "app.kubernetes.io/component": "x" } } } },
    message: /gateway\.podLabels\.app\.kubernetes\.io\/component: the chart sets this label itself/,
  },
  {
    name: "a worker's extraEnv repeating a variable the chart sets",
    case: { values: { workers: { mock: { extraEnv: [{ name: "MODEL_ID", value: "x" }] } } } },
    message: /workers\.mock\.extraEnv: MODEL_ID is set by the chart/,
  },
  {
    name: "the gateway's extraEnv repeating a variable the chart sets",
    case: { values: { gateway: { extraEnv: [{ name: "GATEWAY_UPSTREAMS", value: "x=http://x" }] } } },
    message: /gateway\.extraEnv: GATEWAY_UPSTREAMS is set by the chart/,
  },
  {
    name: "an extra volume named like one of the chart's",
    case: { values: { workers: { mock: { extraVolumes: [{ name: "cache", emptyDir: {} }] } } } },
    message: /workers\.mock\.extraVolumes: the volume name "cache" is the chart's own/,
  },
  {
    name: "an unknown security profile",
    case: { values: { workers: { mock: { securityProfile: "privileged" } } } },
    message: /at '\/workers\/mock\/securityProfile': value must be one of 'restricted', 'imageUser'/,
  },
];

for (const c of bad) {
  Deno.test(`helm template refuses ${c.name}, naming the value`, async () => {
    const result = await helmTemplate(c.case);
    assert.notEqual(result.code, 0, `rendered although ${c.name}`);
    assert.match(result.stderr, c.message);
  });
}
