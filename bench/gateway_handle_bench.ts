/**
 * In-process cost of one API request through the gateway: `gateway.handle(new Request(...))` with an upstream client
 * that answers at once from memory, so only the gateway's own work is measured (auth, body, routing, the request's
 * lifecycle and its subscribers, the proxy, the response body). Run: `deno bench -A bench/gateway_handle_bench.ts`.
 * The request log line is off (GATEWAY_LOG_LEVEL=warn) so stdout writes do not swamp the numbers; metrics are on.
 *
 * Each request is measured with traces off (the default) and on: every request sampled, spans exported in batches as
 * OTLP/protobuf to a sink in this process that reads and drops them (its share, one HTTP request per 512 spans, is
 * counted too). Each group's first row is its baseline.
 * The "budgets" group compares a key with a requests budget only against one that also has a token budget (reserve at
 * admission, settle at the end), both on the in-memory limiter. The "redis limiter" group runs the requests budget on a
 * real redis-server: one script call per request (GATEWAY_RATE_LIMIT_LEASE_MS=0) against leases (the default), one
 * request at a time, so a call's round trip is in the time per request.
 */
import { loadConfig } from "../gateway/config.ts";
import { setLogLevel } from "../gateway/log.ts";
import { createGateway } from "../gateway/server.ts";
import { startTracing } from "../gateway/tracing.ts";
import { benchEnv, callGateway, chatBody, memoryUpstream, startOtlpSink, streamBody } from "./in_process.ts";
import { RedisRateLimiter } from "../gateway/rate_limit_redis.ts";
import { startRedis } from "../tests/support/process.ts";

setLogLevel("warn");
const sink = startOtlpSink();
const untraced = createGateway(loadConfig(benchEnv), { client: memoryUpstream });
const tracedConfig = loadConfig({ ...benchEnv, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url });
const tracing = startTracing(tracedConfig.tracing!);
const traced = createGateway(tracedConfig, { client: memoryUpstream, subscribers: [tracing.subscriber] });
/** The same gateway with budgets: `rpm-key` has requests per minute only, `tpm-key` tokens per minute too. */
const budgeted = createGateway(
  loadConfig({
    GATEWAY_UPSTREAMS: benchEnv.GATEWAY_UPSTREAMS,
    GATEWAY_DEFAULT_UPSTREAM: benchEnv.GATEWAY_DEFAULT_UPSTREAM,
    GATEWAY_API_KEYS_FILE: await budgetKeys(),
    GATEWAY_RATE_LIMIT_RPM: "1000000000",
  }),
  { client: memoryUpstream },
);

async function budgetKeys(): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    path,
    "keys:\n  - { name: rpm, key: rpm-key }\n  - { name: tpm, key: tpm-key, tpm: 1000000000 }\n",
  );
  return path;
}

for (const [name, gateway] of [["traces off", untraced], ["traces on", traced]] as const) {
  const baseline = gateway === untraced;
  Deno.bench(`chat completion, whole answer, ${name}`, { group: "whole", baseline }, async () => {
    memoryUpstream.streamed = false;
    await callGateway(gateway, { body: chatBody });
  });
  Deno.bench(`chat completion, streamed, ${name}`, { group: "streamed", baseline }, async () => {
    memoryUpstream.streamed = true;
    await callGateway(gateway, { body: streamBody });
  });
  Deno.bench(`refused: unknown key (401), ${name}`, { group: "refused", baseline }, async () => {
    await callGateway(gateway, { body: chatBody, key: "nope" });
  });
}

for (
  const [name, key, baseline] of [["requests budget only", "rpm-key", true], [
    "requests and tokens",
    "tpm-key",
    false,
  ]] as const
) {
  Deno.bench(`chat completion, whole answer, ${name}`, { group: "budgets", baseline }, async () => {
    memoryUpstream.streamed = false;
    await callGateway(budgeted, { body: chatBody, key });
  });
}

const redis = await startRedis();
globalThis.addEventListener("unload", () => {
  redis.child.kill("SIGKILL");
  void tracing.shutdown().finally(() => sink.shutdown());
});
for (const [name, leaseMs, baseline] of [["one call per request", "0", true], ["leases", "1000", false]] as const) {
  const key = `redis-${leaseMs}`;
  const limited = createGateway(
    loadConfig({
      ...benchEnv,
      GATEWAY_API_KEYS: key,
      GATEWAY_RATE_LIMIT_RPM: "1000000000",
      GATEWAY_RATE_LIMIT_LEASE_MS: leaseMs,
      REDIS_URL: redis.url,
    }),
    { client: memoryUpstream },
  );
  await (limited.limiter as RedisRateLimiter).waitReady(10_000);
  Deno.bench(
    `chat completion, whole answer, Redis limiter, ${name}`,
    { group: "redis limiter", baseline },
    async () => {
      memoryUpstream.streamed = false;
      await callGateway(limited, { body: chatBody, key });
    },
  );
}
