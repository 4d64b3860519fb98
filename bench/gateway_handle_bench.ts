/**
 * In-process cost of one API request through the gateway: `gateway.handle(new Request(...))` with an upstream client
 * that answers at once from memory, so only the gateway's own work is measured (auth, body, routing, the request's
 * lifecycle and its subscribers, the proxy, the response body). Run: `deno bench -A bench/gateway_handle_bench.ts`.
 * The request log line is off (GATEWAY_LOG_LEVEL=warn) so stdout writes do not swamp the numbers; metrics are on.
 */
import { loadConfig } from "../gateway/config.ts";
import { setLogLevel } from "../gateway/log.ts";
import { createGateway } from "../gateway/server.ts";

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
