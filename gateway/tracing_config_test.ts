/** The OTEL_* variables: when traces are on, what each variable sets, and errors that name the variable. */
import assert from "node:assert/strict";
import { ConfigError } from "./config.ts";
import { parseTracingConfig } from "./tracing_config.ts";

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" };

function failure(env: Record<string, string>): ConfigError {
  try {
    parseTracingConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail(`no error for ${JSON.stringify(env)}`);
}

Deno.test("traces are off without an OTLP endpoint or OTEL_TRACES_EXPORTER=otlp, and when disabled", () => {
  assert.equal(parseTracingConfig({}), undefined);
  assert.equal(parseTracingConfig({ OTEL_SERVICE_NAME: "x", OTEL_TRACES_SAMPLER: "always_on" }), undefined);
  assert.equal(parseTracingConfig({ ...ENDPOINT, OTEL_SDK_DISABLED: "TRUE" }), undefined);
  assert.equal(parseTracingConfig({ ...ENDPOINT, OTEL_TRACES_EXPORTER: "none" }), undefined);
  assert.ok(parseTracingConfig(ENDPOINT));
  assert.ok(parseTracingConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" }));
  assert.ok(parseTracingConfig({ ...ENDPOINT, OTEL_SDK_DISABLED: "false" }));
});

Deno.test("the defaults: localhost:4318, http/protobuf, parent-based always-on, service nexus-gateway", () => {
  assert.deepEqual(parseTracingConfig({ OTEL_TRACES_EXPORTER: "otlp" }), {
    endpoint: "http://localhost:4318/v1/traces",
    protocol: "http/protobuf",
    headers: {},
    timeoutMs: 10_000,
    compression: "none",
    serviceName: "nexus-gateway",
    resourceAttributes: {},
    sampler: { name: "parentbased_always_on", ratio: 1 },
    batch: { scheduleDelayMs: 5000, maxQueueSize: 2048, maxExportBatchSize: 512, exportTimeoutMs: 30_000 },
  });
});

Deno.test("the endpoint gets /v1/traces appended; the traces endpoint is used as given", () => {
  assert.equal(parseTracingConfig(ENDPOINT)!.endpoint, "http://collector:4318/v1/traces");
  assert.equal(
    parseTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://otlp.example/prefix/" })!.endpoint,
    "https://otlp.example/prefix/v1/traces",
  );
  assert.equal(
    parseTracingConfig({ ...ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://tempo:4318/custom" })!.endpoint,
    "http://tempo:4318/custom",
  );
});

Deno.test("signal-specific variables win over the general ones", () => {
  const config = parseTracingConfig({
    ...ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_TIMEOUT: "1000",
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "2500",
    OTEL_EXPORTER_OTLP_COMPRESSION: "none",
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: "gzip",
    OTEL_EXPORTER_OTLP_HEADERS: "x-tenant=a,authorization=Basic%20abc",
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-tenant=b",
  })!;
  assert.equal(config.protocol, "http/json");
  assert.equal(config.timeoutMs, 2500);
  assert.equal(config.compression, "gzip");
  assert.deepEqual(config.headers, { "x-tenant": "b", authorization: "Basic abc" });
});

Deno.test("service name and resource attributes: OTEL_SERVICE_NAME wins over service.name in the attributes", () => {
  const attributes = "deployment.environment.name=prod, service.name=from-attributes ,team=ml%2Dops";
  assert.deepEqual(
    parseTracingConfig({ ...ENDPOINT, OTEL_RESOURCE_ATTRIBUTES: attributes })!.serviceName,
    "from-attributes",
  );
  const config = parseTracingConfig({ ...ENDPOINT, OTEL_RESOURCE_ATTRIBUTES: attributes, OTEL_SERVICE_NAME: "gw" })!;
  assert.equal(config.serviceName, "gw");
  assert.deepEqual(config.resourceAttributes, {
    "deployment.environment.name": "prod",
    "service.name": "from-attributes",
    team: "ml-ops",
  });
});

Deno.test("samplers: the ratio is read for the ratio samplers only, in 0..1", () => {
  assert.deepEqual(
    parseTracingConfig({
      ...ENDPOINT,
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.25",
    })!
      .sampler,
    { name: "parentbased_traceidratio", ratio: 0.25 },
  );
  assert.deepEqual(
    parseTracingConfig({ ...ENDPOINT, OTEL_TRACES_SAMPLER: "always_off", OTEL_TRACES_SAMPLER_ARG: "nonsense" })!
      .sampler,
    { name: "always_off", ratio: 1 },
  );
});

Deno.test("a bad value is an error naming the variable and the value", () => {
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, "OTEL_EXPORTER_OTLP_PROTOCOL", /not grpc.*"grpc"/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT", /http:\/\/ or https:\/\//],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "ftp://c/x" }, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", /"ftp:\/\/c\/x"/],
    [{ OTEL_TRACES_EXPORTER: "console" }, "OTEL_TRACES_EXPORTER", /otlp or none/],
    [{ ...ENDPOINT, OTEL_SDK_DISABLED: "yes" }, "OTEL_SDK_DISABLED", /true or false/],
    [{ ...ENDPOINT, OTEL_TRACES_SAMPLER: "jaeger_remote" }, "OTEL_TRACES_SAMPLER", /parentbased_traceidratio/],
    [
      { ...ENDPOINT, OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" },
      "OTEL_TRACES_SAMPLER_ARG",
      /0\.\.1/,
    ],
    [{ ...ENDPOINT, OTEL_EXPORTER_OTLP_TIMEOUT: "0" }, "OTEL_EXPORTER_OTLP_TIMEOUT", /positive integer/],
    [{ ...ENDPOINT, OTEL_BSP_SCHEDULE_DELAY: "soon" }, "OTEL_BSP_SCHEDULE_DELAY", /"soon"/],
    [
      { ...ENDPOINT, OTEL_BSP_MAX_QUEUE_SIZE: "10", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "20" },
      "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
      /OTEL_BSP_MAX_QUEUE_SIZE/,
    ],
    [{ ...ENDPOINT, OTEL_RESOURCE_ATTRIBUTES: "a=1,=2" }, "OTEL_RESOURCE_ATTRIBUTES", /entry 2/],
  ];
  for (const [env, variable, message] of cases) {
    const error = failure(env);
    assert.equal(error.variable, variable, JSON.stringify(env));
    assert.match(error.message, message);
  }
});

Deno.test("a malformed header never shows in the error: headers hold credentials", () => {
  const error = failure({ ...ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer s3cret,api-key-s3cret" });
  assert.equal(error.variable, "OTEL_EXPORTER_OTLP_HEADERS");
  assert.match(error.message, /entry 2: expected key=value/);
  assert.doesNotMatch(error.message, /s3cret/);
  const badEncoding = failure({ ...ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_HEADERS: "authorization=%E0%A4%A-s3cret" });
  assert.doesNotMatch(badEncoding.message, /s3cret/);
});
