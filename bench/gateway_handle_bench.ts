/**
 * In-process cost of one API request through the gateway: `gateway.handle(new Request(...))` with an upstream client
 * that answers at once from memory, so only the gateway's own work is measured (auth, body, routing, the request's
 * lifecycle and its subscribers, the proxy, the response body). Run: `deno bench -A bench/gateway_handle_bench.ts`.
 * The request log line is off (GATEWAY_LOG_LEVEL=warn) so stdout writes do not swamp the numbers; metrics are on.
 *
 * Each request is measured with traces off (the default) and on: every request sampled, spans exported in batches as
 * OTLP/protobuf to a sink in this process that reads and drops them (its share, one HTTP request per 512 spans, is
 * counted too). Each group's first row is its baseline.
 */
import { loadConfig } from "../gateway/config.ts";
import { setLogLevel } from "../gateway/log.ts";
import { createGateway, type Gateway } from "../gateway/server.ts";
import { startTracing } from "../gateway/tracing.ts";

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

/** An OTLP/HTTP endpoint that reads each export and answers with an empty (valid) protobuf response. */
const sink = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
  await request.arrayBuffer();
  return new Response(new Uint8Array(0), { headers: { "content-type": "application/x-protobuf" } });
});

setLogLevel("warn");
const env = {
  GATEWAY_UPSTREAMS: "a=http://127.0.0.1:1",
  GATEWAY_DEFAULT_UPSTREAM: "a",
  GATEWAY_API_KEYS: "bench-key",
  GATEWAY_RATE_LIMIT_RPM: "0",
};
const untraced = createGateway(loadConfig(env), { client });
const tracedConfig = loadConfig({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.addr.port}` });
const tracing = startTracing(tracedConfig.tracing!);
const traced = createGateway(tracedConfig, { client, subscribers: [tracing.subscriber] });

const headers = { "x-api-key": "bench-key", "content-type": "application/json" };
const chatBody = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hello" }] });
const streamBody = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hello" }], stream: true });

/** One request through `gateway`, its answer read to the end. */
async function call(gateway: Gateway, init: { body: string; key?: string }): Promise<void> {
  const response = await gateway.handle(
    new Request("http://gw/v1/chat/completions", {
      method: "POST",
      headers: init.key === undefined ? headers : { ...headers, "x-api-key": init.key },
      body: init.body,
    }),
  );
  await response.arrayBuffer();
}

for (const [name, gateway] of [["traces off", untraced], ["traces on", traced]] as const) {
  const baseline = gateway === untraced;
  Deno.bench(`chat completion, whole answer, ${name}`, { group: "whole", baseline }, async () => {
    streamed = false;
    await call(gateway, { body: chatBody });
  });
  Deno.bench(`chat completion, streamed, ${name}`, { group: "streamed", baseline }, async () => {
    streamed = true;
    await call(gateway, { body: streamBody });
  });
  Deno.bench(`refused: unknown key (401), ${name}`, { group: "refused", baseline }, async () => {
    await call(gateway, { body: chatBody, key: "nope" });
  });
}

globalThis.addEventListener("unload", () => void tracing.shutdown().finally(() => sink.shutdown()));
