/**
 * gateway.otel: the chart renders the OTEL_* variables the gateway parses into the trace settings the values meant,
 * keeps export headers in a Secret, and refuses values that would leave traces half set up.
 */
import assert from "node:assert/strict";
import { parseTracingConfig } from "../gateway/tracing_config.ts";
import { helmTemplate, type Manifest, named, podSpec, rendered } from "./support/chart.ts";

const otel = {
  enabled: true,
  endpoint: "http://otel-collector.observability:4318",
  protocol: "http/json",
  samplingRatio: 0.1,
  serviceName: "llm-gateway",
  resourceAttributes: { "deployment.environment.name": "prod west", team: "a+b,c" },
  headersSecret: { name: "otel-credentials" },
};

/** The gateway container's OTEL_* environment: ConfigMap data and env entries. */
function otelEnv(objects: Manifest[]) {
  const container = podSpec(named(objects, "Deployment", "nexus-gateway"))!.containers[0];
  const data: Record<string, string> = named(objects, "ConfigMap", "nexus-gateway").data;
  const fromConfigMap = Object.fromEntries(Object.entries(data).filter(([name]) => name.startsWith("OTEL_")));
  const entries = (container.env as Manifest[]).filter((e) => e.name.startsWith("OTEL_"));
  return { fromConfigMap, entries };
}

Deno.test("gateway.otel renders the variables the gateway parses into the traces the values ask for", async () => {
  const { objects } = await rendered({ values: { gateway: { otel } } });
  const { fromConfigMap } = otelEnv(objects);
  const tracing = parseTracingConfig(fromConfigMap);
  assert.ok(tracing, "traces are on");
  assert.equal(tracing.endpoint, "http://otel-collector.observability:4318/v1/traces");
  assert.equal(tracing.protocol, "http/json");
  assert.deepEqual(tracing.sampler, { name: "parentbased_traceidratio", ratio: 0.1 });
  assert.equal(tracing.serviceName, "llm-gateway");
  assert.deepEqual(tracing.resourceAttributes, otel.resourceAttributes);
});

Deno.test("export headers come from the named Secret, never from the ConfigMap", async () => {
  const { objects } = await rendered({ values: { gateway: { otel } } });
  const { fromConfigMap, entries } = otelEnv(objects);
  assert.equal(fromConfigMap.OTEL_EXPORTER_OTLP_HEADERS, undefined);
  assert.deepEqual(entries, [{
    name: "OTEL_EXPORTER_OTLP_HEADERS",
    valueFrom: { secretKeyRef: { name: "otel-credentials", key: "OTEL_EXPORTER_OTLP_HEADERS" } },
  }]);
});

Deno.test("traces are off by default: no OTEL_* variable is rendered", async () => {
  const { objects } = await rendered({});
  assert.deepEqual(otelEnv(objects), { fromConfigMap: {}, entries: [] });
  const disabled = await rendered({ values: { gateway: { otel: { ...otel, enabled: false } } } });
  assert.deepEqual(otelEnv(disabled.objects), { fromConfigMap: {}, entries: [] });
});

Deno.test("a ConfigMap change of gateway.otel rolls the gateway pods (checksum/config)", async () => {
  const checksum = async (values: unknown) =>
    named((await rendered({ values })).objects, "Deployment", "nexus-gateway").spec.template.metadata
      .annotations["checksum/config"];
  const on = await checksum({ gateway: { otel } });
  assert.notEqual(on, await checksum({}));
  assert.notEqual(on, await checksum({ gateway: { otel: { ...otel, samplingRatio: 0.5 } } }));
});

const refusals: Array<{ name: string; values: unknown; message: RegExp }> = [
  { name: "traces on without an endpoint", values: { enabled: true }, message: /gateway\.otel\.endpoint/ },
  {
    name: "an endpoint that is not http(s)",
    values: { enabled: true, endpoint: "grpc://otel:4317" },
    message: /gateway\.otel\.endpoint/,
  },
  { name: "the grpc protocol", values: { protocol: "grpc" }, message: /otel\/protocol/ },
  { name: "a sampling ratio above 1", values: { samplingRatio: 2 }, message: /otel\/samplingRatio/ },
];
for (const refusal of refusals) {
  Deno.test(`helm template refuses ${refusal.name}, naming the value`, async () => {
    const result = await helmTemplate({ values: { gateway: { otel: refusal.values } } });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, refusal.message);
  });
}

Deno.test("gateway.env may not set an OTEL_* variable that gateway.otel sets", async () => {
  const result = await helmTemplate({ values: { gateway: { otel, env: { OTEL_TRACES_SAMPLER_ARG: "1" } } } });
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /gateway\.env\.OTEL_TRACES_SAMPLER_ARG: the chart sets .* from gateway\.otel/);
  // With traces off in the chart, an operator may still set OTEL_* themselves.
  const own = await rendered({ values: { gateway: { env: { OTEL_SERVICE_NAME: "mine" } } } });
  assert.equal(named(own.objects, "ConfigMap", "nexus-gateway").data.OTEL_SERVICE_NAME, "mine");
});
