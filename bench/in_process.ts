/**
 * Pieces of the in-process benches: an upstream client that answers at once from memory (a chat answer or a short
 * stream), an OTLP/HTTP sink that reads and drops exports, the gateway's environment and one request through
 * `gateway.handle`.
 */
import type { Gateway } from "../gateway/server.ts";
import type { UpstreamClient } from "../gateway/upstream_client.ts";

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

/** Answers every request at once: the chat answer, or the stream while `streamed` is set. */
export const memoryUpstream: UpstreamClient & { streamed: boolean } = {
  streamed: false,
  post() {
    return Promise.resolve(
      memoryUpstream.streamed
        ? new Response(streamAnswer, { headers: { "content-type": "text/event-stream" } })
        : new Response(chatAnswer, { headers: { "content-type": "application/json" } }),
    );
  },
};

/** An OTLP/HTTP endpoint on 127.0.0.1 that reads each export and answers with an empty (valid) protobuf response. */
export function startOtlpSink(): { url: string; shutdown(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    await request.arrayBuffer();
    return new Response(new Uint8Array(0), { headers: { "content-type": "application/x-protobuf" } });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, shutdown: () => server.shutdown() };
}

/** The gateway's environment: one upstream, one key, no rate limit. */
export const benchEnv: Record<string, string> = {
  GATEWAY_UPSTREAMS: "a=http://127.0.0.1:1",
  GATEWAY_DEFAULT_UPSTREAM: "a",
  GATEWAY_API_KEYS: "bench-key",
  GATEWAY_RATE_LIMIT_RPM: "0",
};

const headers = { "x-api-key": "bench-key", "content-type": "application/json" };
/** A chat completion request body, whole answer. */
export const chatBody = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hello" }] });
/** A chat completion request body, streamed. */
export const streamBody = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hello" }], stream: true });

/** One chat completion through `gateway` (with `key` instead of the bench key, if given), its answer read. */
export async function callGateway(gateway: Gateway, init: { body: string; key?: string }): Promise<void> {
  const response = await gateway.handle(
    new Request("http://gw/v1/chat/completions", {
      method: "POST",
      headers: init.key === undefined ? headers : { ...headers, "x-api-key": init.key },
      body: init.body,
    }),
  );
  await response.arrayBuffer();
}
