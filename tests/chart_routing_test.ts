/**
 * The chart's per-pod routing: gateway.routing becomes GATEWAY_PICKER and its parameters; Deployment workers that can
 * run more than one replica are discovered per pod (GATEWAY_DISCOVERY) with a Role that may only read EndpointSlices
 * in the release namespace; external upstreams, KServe and single-replica workers stay one URL. Each rendered
 * environment is parsed with the gateway's own config parser.
 */
import assert from "node:assert/strict";
import { type Config, loadConfig } from "../gateway/config.ts";
import { helmTemplate, type Manifest, named, ofKind, podSpec, presetFiles, rendered } from "./support/chart.ts";

/** The gateway's ConfigMap parsed as the gateway parses its environment (keys are a Secret: a stand-in here). */
function gatewayConfig(objects: Manifest[]): { env: Record<string, string>; config: Config } {
  const env = { ...named(objects, "ConfigMap", "nexus-gateway").data, GATEWAY_API_KEYS: "sk-stand-in-key" };
  return { env, config: loadConfig(env) };
}

function gatewayPod(objects: Manifest[]): Manifest {
  return podSpec(named(objects, "Deployment", "nexus-gateway"))!;
}

Deno.test("by default the mock worker (autoscaled) is discovered per pod, through a Role that only reads EndpointSlices", async () => {
  const { objects } = await rendered({});
  const { env, config } = gatewayConfig(objects);
  assert.equal(env.GATEWAY_DISCOVERY, "mock=nexus-mock:http");
  assert.deepEqual(Object.fromEntries(config.routing.discovery), {
    mock: { namespace: undefined, service: "nexus-mock", port: "http" },
  });
  assert.equal(config.routing.picker, "least_request", "the default picker");
  const service = named(objects, "Service", "nexus-mock");
  assert.ok(service.spec.ports.some((p: Manifest) => p.name === "http"), "the Service names its port http");

  const role = named(objects, "Role", "nexus-gateway");
  assert.equal(role.metadata.namespace, "nexus");
  assert.deepEqual(role.rules, [
    { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
  ]);
  assert.equal(ofKind(objects, "ClusterRole").length + ofKind(objects, "ClusterRoleBinding").length, 0);
  const binding = named(objects, "RoleBinding", "nexus-gateway");
  assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "nexus-gateway" });
  const pod = gatewayPod(objects);
  assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: pod.serviceAccountName, namespace: "nexus" }]);
  assert.equal(pod.automountServiceAccountToken, true, "the gateway needs its token to watch EndpointSlices");
});

Deno.test("external upstreams, KServe and single-replica workers stay one URL: no discovery, no Role, no token", async () => {
  const { objects } = await rendered({
    values: {
      workers: {
        single: { autoscaling: { enabled: false }, replicas: 1 },
        llama: { backend: "kserve", model: "x/y" },
      },
      gateway: { externalUpstreams: { bento: "http://bento.ml.svc:3000" }, defaultUpstream: "single" },
    },
  });
  const { env, config } = gatewayConfig(objects);
  assert.equal(env.GATEWAY_DISCOVERY, undefined);
  assert.equal(config.routing.discovery.size, 0);
  assert.deepEqual([...config.upstreams.values()].map((u) => u.endpoints.length), [1, 1, 1]);
  assert.equal(ofKind(objects, "Role").length + ofKind(objects, "RoleBinding").length, 0);
  assert.equal(gatewayPod(objects).automountServiceAccountToken, false);
});

Deno.test("workers with several replicas or KEDA are discovered; gateway.routing.discovery=false turns it off", async () => {
  const workers = {
    fixed: { autoscaling: { enabled: false }, replicas: 3 },
    queue: { autoscaling: { enabled: false }, keda: { enabled: true, serverAddress: "http://prom:9090" } },
    one: { autoscaling: { enabled: false } },
  };
  const on = gatewayConfig((await rendered({ values: { workers } })).objects);
  assert.equal(on.env.GATEWAY_DISCOVERY, "fixed=nexus-fixed:http;queue=nexus-queue:http");
  const off = (await rendered({ values: { workers, gateway: { routing: { discovery: false } } } })).objects;
  assert.equal(gatewayConfig(off).env.GATEWAY_DISCOVERY, undefined);
  assert.equal(ofKind(off, "Role").length, 0);
  assert.equal(gatewayPod(off).automountServiceAccountToken, false);
});

Deno.test("gateway.routing sets the picker and its parameters, and a policy's picker reaches the gateway", async () => {
  const { objects } = await rendered({
    values: {
      gateway: {
        routing: {
          picker: "load",
          loadScrapeMs: 250,
          prefix: { blockBytes: 512, cacheBlocks: 1000, loadThreshold: 4, minMatch: 0.25 },
          sessionHeader: "x-session-id",
        },
        routePolicies: { m: { strategy: "fallback", upstreams: ["mock"], picker: "prefix" } },
      },
    },
  });
  const { routing, policies } = gatewayConfig(objects).config;
  assert.deepEqual(
    [
      routing.picker,
      routing.loadScrapeMs,
      routing.prefixBlockBytes,
      routing.prefixCacheBlocks,
      routing.prefixLoadThreshold,
      routing.prefixMinMatch,
      routing.sessionHeader,
    ],
    ["load", 250, 512, 1000, 4, 0.25, "x-session-id"],
  );
  assert.equal(policies.get("m")?.picker, "prefix");
});

Deno.test("the vLLM and SGLang presets pick by prefix; the mock preset keeps the default", async () => {
  assert.deepEqual(presetFiles, ["values-gpu.yaml", "values-kserve.yaml", "values-mock.yaml", "values-sglang.yaml"]);
  const picker = async (file: string) => gatewayConfig((await rendered({ files: [file] })).objects).config.routing;
  assert.equal((await picker("values-gpu.yaml")).picker, "prefix");
  assert.equal((await picker("values-sglang.yaml")).picker, "prefix");
  assert.equal((await picker("values-mock.yaml")).picker, "least_request");
  const gpu = await picker("values-gpu.yaml");
  assert.deepEqual([...gpu.discovery.keys()], ["vllm"], "the autoscaled vLLM worker is discovered per pod");
});

Deno.test("bad routing values are schema errors naming the value; gateway.env may not set them", async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ picker: "random" }, /gateway\/routing\/picker/],
    [{ prefix: { blockBytes: 100 } }, /gateway\/routing\/prefix\/blockBytes/],
    [{ prefix: { minMatch: 2 } }, /gateway\/routing\/prefix\/minMatch/],
    [{ sessionHeader: "x session" }, /gateway\/routing\/sessionHeader/],
    [{ loadScrapeMs: 1 }, /gateway\/routing\/loadScrapeMs/],
  ];
  for (const [routing, error] of cases) {
    const result = await helmTemplate({ values: { gateway: { routing } } });
    assert.notEqual(result.code, 0, JSON.stringify(routing));
    assert.match(result.stderr, error);
  }
  const env = await helmTemplate({ values: { gateway: { env: { GATEWAY_PICKER: "prefix" } } } });
  assert.notEqual(env.code, 0);
  assert.match(env.stderr, /gateway\.env\.GATEWAY_PICKER: the chart sets GATEWAY_PICKER from gateway\.routing\.picker/);
});
