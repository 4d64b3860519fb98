/** The request's spans, in-process: `gateway.handle(new Request(...))` with a fake upstream client and exporter. */
import assert from "node:assert/strict";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import { loadConfig } from "./config.ts";
import { setLogLevel } from "./log.ts";
import { createGateway } from "./server.ts";
import { startTracing } from "./tracing.ts";

setLogLevel("error");

const encoder = new TextEncoder();
const CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN = "b7ad6b7169203331";

/** Upstream answers, in order; each call's headers are kept. */
function fakeClient(answers: Array<() => Response>) {
  const headers: Array<Map<string, string>> = [];
  return {
    headers,
    post(_url: string, init: { headers: Array<[string, string]> }) {
      headers.push(new Map(init.headers));
      return Promise.resolve(answers[Math.min(headers.length - 1, answers.length - 1)]());
    },
  };
}

const chatAnswer = () =>
  new Response(
    JSON.stringify({
      id: "c",
      object: "chat.completion",
      model: "m-0613",
      choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    }),
    { headers: { "content-type": "application/json" } },
  );
const streamAnswer = () =>
  new Response(
    encoder.encode(
      `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m-0613","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"usage":null}\n\n` +
        `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m-0613","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n` +
        "data: [DONE]\n\n",
    ),
    { headers: { "content-type": "text/event-stream" } },
  );
const unavailable = () => new Response('{"error":{"message":"down"}}', { status: 503 });

/** A gateway with traces on, exporting to memory; `spans()` flushes and returns every span ended so far. */
function tracedGateway(client: ReturnType<typeof fakeClient>, env: Record<string, string> = {}) {
  const config = loadConfig({
    GATEWAY_UPSTREAMS: "a=http://a.test:8001;b=http://b.test:8002",
    GATEWAY_DEFAULT_UPSTREAM: "a",
    GATEWAY_API_KEYS: "sk-test-spans",
    GATEWAY_RATE_LIMIT_RPM: "0",
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ flaky: { strategy: "fallback", upstreams: ["a", "b"] } }),
    OTEL_TRACES_EXPORTER: "otlp",
    ...env,
  });
  const exported: ReadableSpan[] = [];
  const exporter: SpanExporter = {
    export: (spans, done) => {
      exported.push(...spans);
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
  };
  const tracing = startTracing(config.tracing!, { exporter });
  const gateway = createGateway(config, { client, subscribers: [tracing.subscriber] });
  return {
    gateway,
    async spans(): Promise<ReadableSpan[]> {
      await tracing.shutdown();
      await gateway.close();
      return exported;
    },
  };
}

async function post(
  gateway: ReturnType<typeof createGateway>,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const response = await gateway.handle(
    new Request("http://gw/v1/chat/completions", {
      method: "POST",
      headers: { "x-api-key": "sk-test-spans", "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    }),
  );
  await response.arrayBuffer();
  return response;
}

const messages = [{ role: "user", content: "hello" }];

Deno.test("a retried request is one server span with two attempt spans under it, the first failed with its 503", async () => {
  const client = fakeClient([unavailable, chatAnswer]);
  const { gateway, spans } = tracedGateway(client);
  assert.equal((await post(gateway, { model: "flaky", messages })).status, 200);
  const all = await spans();
  const server = all.find((s) => s.kind === SpanKind.SERVER)!;
  const attempts = all.filter((s) => s.kind === SpanKind.CLIENT);
  assert.equal(all.length, 3);
  assert.equal(server.name, "POST /v1/chat/completions");
  assert.deepEqual(attempts.map((s) => s.parentSpanContext?.spanId), [
    server.spanContext().spanId,
    server.spanContext().spanId,
  ]);
  assert.deepEqual(attempts.map((s) => s.name), ["chat flaky", "chat flaky"]);
  assert.deepEqual(attempts.map((s) => [s.attributes["nexus.upstream"], s.attributes["nexus.attempt"]]), [["a", 1], [
    "b",
    2,
  ]]);
  assert.deepEqual(attempts.map((s) => s.attributes["server.address"]), ["a.test", "b.test"]);
  assert.equal(attempts[0].status.code, SpanStatusCode.ERROR);
  assert.equal(attempts[0].attributes["error.type"], "503");
  assert.equal(attempts[0].attributes["http.response.status_code"], 503);
  assert.equal(attempts[1].status.code, SpanStatusCode.UNSET);
  assert.equal(attempts[1].attributes["gen_ai.usage.output_tokens"], 1);
  assert.equal(server.attributes["nexus.attempts"], 2);
  assert.equal(server.attributes["nexus.upstream"], "b");
  assert.equal(server.attributes["nexus.key.name"], "key1");
  assert.equal(server.status.code, SpanStatusCode.UNSET);
  // Each attempt told its upstream its own span.
  assert.deepEqual(
    client.headers.map((h) => h.get("traceparent")),
    attempts.map((s) => `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`),
  );
});

Deno.test("a caller's traceparent and tracestate are continued: same trace, the caller's span as parent", async () => {
  const client = fakeClient([chatAnswer]);
  const { gateway, spans } = tracedGateway(client);
  await post(gateway, { model: "m", messages }, {
    traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`,
    tracestate: "vendor=abc",
  });
  const [attempt, server] = await spans();
  assert.equal(server.spanContext().traceId, CALLER_TRACE);
  assert.equal(server.parentSpanContext?.spanId, CALLER_SPAN);
  assert.equal(server.spanContext().traceState?.serialize(), "vendor=abc");
  assert.equal(attempt.spanContext().traceId, CALLER_TRACE);
  const sent = client.headers[0];
  assert.equal(sent.get("traceparent"), `00-${CALLER_TRACE}-${attempt.spanContext().spanId}-01`);
  assert.equal(sent.get("tracestate"), "vendor=abc");
});

Deno.test("a streamed chat's spans carry the GenAI request and response attributes and the time to first chunk", async () => {
  const { gateway, spans } = tracedGateway(fakeClient([streamAnswer]));
  await post(gateway, { model: "m", messages, stream: true, max_tokens: 20 });
  const [attempt, server] = await spans();
  for (const span of [server, attempt]) {
    assert.equal(span.attributes["gen_ai.operation.name"], "chat");
    assert.equal(span.attributes["gen_ai.request.model"], "m");
    assert.equal(span.attributes["gen_ai.response.model"], "m-0613");
    assert.equal(span.attributes["gen_ai.usage.input_tokens"], 3);
    assert.equal(span.attributes["gen_ai.usage.output_tokens"], 1);
    const ttfc = span.attributes["gen_ai.response.time_to_first_chunk"];
    assert.ok(typeof ttfc === "number" && ttfc >= 0, `time to first chunk: ${ttfc}`);
  }
  assert.equal(server.attributes["gen_ai.request.stream"], true);
  assert.equal(server.attributes["gen_ai.request.max_tokens"], 20);
  assert.equal(server.attributes["http.response.status_code"], 200);
  assert.equal(attempt.attributes["http.response.status_code"], 200);
});

Deno.test("probes are not traced; a request refused before its body was read still gets its server span", async () => {
  const { gateway, spans } = tracedGateway(fakeClient([chatAnswer]));
  for (const path of ["/health", "/ready"]) await (await gateway.handle(new Request(`http://gw${path}`))).arrayBuffer();
  const refused = await gateway.handle(
    new Request("http://gw/v1/chat/completions", { method: "POST", headers: { "x-api-key": "wrong" }, body: "{}" }),
  );
  await refused.arrayBuffer();
  const all = await spans();
  assert.equal(all.length, 1);
  assert.equal(all[0].name, "POST /v1/chat/completions");
  assert.equal(all[0].attributes["http.response.status_code"], 401);
  assert.equal(all[0].status.code, SpanStatusCode.UNSET, "a 4xx is not a server error");
  assert.equal(all[0].attributes["gen_ai.operation.name"], undefined, "the body was never read");
});

Deno.test("an upstream 5xx on every attempt is an error on the server span and on each attempt span", async () => {
  const { gateway, spans } = tracedGateway(fakeClient([unavailable]));
  assert.equal((await post(gateway, { model: "flaky", messages })).status, 503);
  const all = await spans();
  assert.deepEqual(all.map((s) => [s.kind, s.status.code, s.attributes["error.type"]]), [
    [SpanKind.CLIENT, SpanStatusCode.ERROR, "503"],
    [SpanKind.CLIENT, SpanStatusCode.ERROR, "503"],
    [SpanKind.SERVER, SpanStatusCode.ERROR, "503"],
  ]);
});

Deno.test("a trace sampled out exports nothing, and the upstream still gets a traceparent (not sampled)", async () => {
  const client = fakeClient([chatAnswer]);
  const { gateway, spans } = tracedGateway(client, {
    OTEL_TRACES_SAMPLER: "traceidratio",
    OTEL_TRACES_SAMPLER_ARG: "0",
  });
  await post(gateway, { model: "m", messages });
  assert.deepEqual(await spans(), []);
  assert.match(client.headers[0].get("traceparent")!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
});
