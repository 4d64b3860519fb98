/**
 * In-process cost of one API request through the gateway: `gateway.handle(new Request(...))` with an upstream client
 * that answers at once from memory, so only the gateway's own work is measured (auth, body, routing, the request's
 * lifecycle and its subscribers, the proxy, the response body). Run: `deno bench -A bench/gateway_handle_bench.ts`.
 * The request log line is off (GATEWAY_LOG_LEVEL=warn) so stdout writes do not swamp the numbers; metrics are on.
 * The "budgets" group compares a key with a requests budget only against one that also has a token budget (reserve at
 * admission, settle at the end), both on the in-memory limiter. The "redis limiter" group runs the requests budget on a
 * real redis-server: one script call per request (GATEWAY_RATE_LIMIT_LEASE_MS=0) against leases (the default), one
 * request at a time, so a call's round trip is in the time per request.
 */
import { loadConfig } from "../gateway/config.ts";
import { setLogLevel } from "../gateway/log.ts";
import { createGateway } from "../gateway/server.ts";
import { RedisRateLimiter } from "../gateway/rate_limit_redis.ts";
import { startRedis } from "../tests/support/process.ts";

const encoder = new TextEncoder();
const chatAnswer = encoder.encode(JSON.stringify({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "m",
  choices: [{ index: 0, message: { role: "assistant", content: "hello there" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
}));
const streamAnswer = encoder.encode(
  ["hello", " there"].map((text) =>
    `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"${text}"},"finish_reason":null}],"usage":null}\n\n`
  ).join("") +
    `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n` +
    "data: [DONE]\n\n",
);

/** Which answer the fake upstream gives next (each bench sets it). */
let streamed = false;

/** Answers every request at once: the chat answer, or the stream. */
const client = {
  post() {
    return Promise.resolve(
      streamed
        ? new Response(streamAnswer, { headers: { "content-type": "text/event-stream" } })
        : new Response(chatAnswer, { headers: { "content-type": "application/json" } }),
    );
  },
};

setLogLevel("warn");
const gateway = createGateway(
  loadConfig({
    GATEWAY_UPSTREAMS: "a=http://127.0.0.1:1",
    GATEWAY_DEFAULT_UPSTREAM: "a",
    GATEWAY_API_KEYS: "bench-key",
    GATEWAY_RATE_LIMIT_RPM: "0",
  }),
  { client },
);
/** The same gateway with budgets: `rpm-key` has requests per minute only, `tpm-key` tokens per minute too. */
const budgeted = createGateway(
  loadConfig({
    GATEWAY_UPSTREAMS: "a=http://127.0.0.1:1",
    GATEWAY_DEFAULT_UPSTREAM: "a",
    GATEWAY_API_KEYS_FILE: await budgetKeys(),
    GATEWAY_RATE_LIMIT_RPM: "1000000000",
  }),
  { client },
);

async function budgetKeys(): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    path,
    "keys:\n  - { name: rpm, key: rpm-key }\n  - { name: tpm, key: tpm-key, tpm: 1000000000 }\n",
  );
  return path;
}

const headers = { "x-api-key": "bench-key", "content-type": "application/json" };
const chatBody = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hello" }] });
const streamBody = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hello" }], stream: true });

Deno.bench("chat completion, whole answer", async () => {
  streamed = false;
  const response = await gateway.handle(
    new Request("http://gw/v1/chat/completions", { method: "POST", headers, body: chatBody }),
  );
  await response.arrayBuffer();
});

Deno.bench("chat completion, streamed", async () => {
  streamed = true;
  const response = await gateway.handle(
    new Request("http://gw/v1/chat/completions", { method: "POST", headers, body: streamBody }),
  );
  await response.arrayBuffer();
});

Deno.bench("refused: unknown key (401)", async () => {
  const response = await gateway.handle(
    new Request("http://gw/v1/chat/completions", { method: "POST", headers: { "x-api-key": "nope" }, body: chatBody }),
  );
  await response.arrayBuffer();
});

for (
  const [name, key, baseline] of [["requests budget only", "rpm-key", true], ["requests and tokens", "tpm-key", false]]
) {
  Deno.bench({
    name: `chat completion, whole answer, ${name}`,
    group: "budgets",
    baseline: baseline as boolean,
    fn: async () => {
      streamed = false;
      const response = await budgeted.handle(
        new Request("http://gw/v1/chat/completions", {
          method: "POST",
          headers: { "x-api-key": key as string },
          body: chatBody,
        }),
      );
      await response.arrayBuffer();
    },
  });
}

const redis = await startRedis();
globalThis.addEventListener("unload", () => redis.child.kill("SIGKILL"));
for (const [name, leaseMs, baseline] of [["one call per request", "0", true], ["leases", "1000", false]] as const) {
  const limited = createGateway(
    loadConfig({
      GATEWAY_UPSTREAMS: "a=http://127.0.0.1:1",
      GATEWAY_DEFAULT_UPSTREAM: "a",
      GATEWAY_API_KEYS: `redis-${leaseMs}`,
      GATEWAY_RATE_LIMIT_RPM: "1000000000",
      GATEWAY_RATE_LIMIT_LEASE_MS: leaseMs,
      REDIS_URL: redis.url,
    }),
    { client },
  );
  await (limited.limiter as RedisRateLimiter).waitReady(10_000);
  Deno.bench({
    name: `chat completion, whole answer, Redis limiter, ${name}`,
    group: "redis limiter",
    baseline,
    fn: async () => {
      streamed = false;
      const response = await limited.handle(
        new Request("http://gw/v1/chat/completions", {
          method: "POST",
          headers: { "x-api-key": `redis-${leaseMs}` },
          body: chatBody,
        }),
      );
      await response.arrayBuffer();
    },
  });
}
