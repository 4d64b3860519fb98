/**
 * OpenTelemetry traces end to end: a real gateway process, a real mock worker, an upstream that answers 503, and an
 * OTLP/HTTP receiver in the test. Spans are checked as the receiver decodes them (OTLP/JSON), and the span context
 * an upstream receives is checked against the attempt span that sent it.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { eventually } from "./support/eventually.ts";
import { type ReceivedSpan, SPAN_KIND, startOtlpReceiver, STATUS_ERROR } from "./support/otlp_receiver.ts";
import { mockGatewayEnv, runDeno, startGateway, startWorker } from "./support/process.ts";
import { rawServer, write } from "./support/raw_upstream.ts";

const KEY = "sk-test-tracing-445566";
const MODEL = "mock-worker";
const CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const messages = [{ role: "user" as const, content: "tell me about foxes" }];

/** An upstream that answers every request 503 and keeps each request's head. */
function unavailableUpstream() {
  const heads: string[] = [];
  const server = rawServer(async (reader) => {
    for (let request = await reader.next(); request !== null; request = await reader.next()) {
      heads.push(request.head);
      const body = '{"error":{"message":"overloaded"}}';
      await write(
        reader.conn,
        `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n` +
          `content-length: ${body.length}\r\n\r\n${body}`,
      );
    }
  });
  return Object.assign(server, { heads });
}

/** The server span of the request with this id, and its children, once all of them arrived. */
async function trace(spans: () => ReceivedSpan[], requestId: string, attempts: number) {
  let found: { server: ReceivedSpan; attempts: ReceivedSpan[] } | undefined;
  await eventually(() => {
    const all = spans();
    const server = all.find((s) => s.attributes["nexus.request_id"] === requestId);
    if (server === undefined) return Promise.resolve(false);
    const children = all.filter((s) => s.parentSpanId === server.spanId).sort((a, b) =>
      Number(a.attributes["nexus.attempt"]) - Number(b.attributes["nexus.attempt"])
    );
    found = { server, attempts: children };
    return Promise.resolve(children.length === attempts);
  }, { what: `the spans of request ${requestId}` });
  return found!;
}

/** The gateway's JSON log lines about one request (its `request_id`), by message. */
function logLines(output: string, requestId: string): Map<string, Record<string, unknown>> {
  const lines = output.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
  return new Map(lines.filter((line) => line.request_id === requestId).map((line) => [line.msg, line]));
}

/** Asserts `span` carries these attributes, with integers as OTLP intValue and ratios as doubleValue. */
function assertAttributes(span: ReceivedSpan, expected: Record<string, string | number | boolean>): void {
  for (const [key, value] of Object.entries(expected)) {
    assert.equal(span.attributes[key], value, `${span.name}: ${key}`);
    const type = typeof value === "string"
      ? "stringValue"
      : typeof value === "boolean"
      ? "boolValue"
      : Number.isInteger(value)
      ? "intValue"
      : "doubleValue";
    assert.equal(span.attributeTypes[key], type, `${span.name}: ${key} is an ${type}`);
  }
}

Deno.test("a streamed chat, an embeddings call and a retried request reach an OTLP/HTTP receiver as a server span with a child span per upstream attempt", async (t) => {
  await using receiver = startOtlpReceiver();
  await using worker = await startWorker({
    WORKER_TOKEN_DELAY_MS: "1",
    WORKER_TTFT_MS: "20",
    WORKER_EMBEDDING_DIM: "8",
  });
  await using down = unavailableUpstream();
  await using gateway = await startGateway(mockGatewayEnv(worker.url, KEY, {
    GATEWAY_UPSTREAMS: `mock=${worker.url};down=${down.origin}`,
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ "retry-me": { strategy: "fallback", upstreams: ["down", "mock"] } }),
    GATEWAY_EJECT_AFTER_FAILURES: "0",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_HEADERS: "x-tenant=team-a",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_SERVICE_NAME: "nexus-under-test",
    OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=test",
  }));
  const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

  await t.step(
    "a streamed chat continues the caller's trace: server span, one attempt span, GenAI attributes",
    async () => {
      const stream = await client.chat.completions.create(
        { model: MODEL, messages, stream: true, max_tokens: 5 },
        { headers: { "x-request-id": "trace-chat", traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` } },
      );
      let chunks = 0;
      for await (const _ of stream) chunks++;
      assert.ok(chunks > 0);
      const { server, attempts: [attempt] } = await trace(() => receiver.spans(), "trace-chat", 1);

      assert.equal(server.traceId, CALLER_TRACE);
      assert.equal(server.parentSpanId, CALLER_SPAN);
      assert.equal(server.kind, SPAN_KIND.SERVER);
      assert.equal(server.name, "POST /v1/chat/completions");
      assertAttributes(server, {
        "http.request.method": "POST",
        "http.route": "/v1/chat/completions",
        "http.response.status_code": 200,
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.stream": true,
        "gen_ai.request.max_tokens": 5,
        "gen_ai.response.model": MODEL,
        "gen_ai.usage.output_tokens": 5,
        "nexus.upstream": "mock",
        "nexus.key.name": "key1",
        "nexus.attempts": 1,
      });
      assert.equal(server.attributeTypes["gen_ai.usage.input_tokens"], "intValue");
      assert.ok(Number(server.attributes["gen_ai.usage.input_tokens"]) > 0);
      assert.equal(server.attributeTypes["gen_ai.response.time_to_first_chunk"], "doubleValue");
      assert.ok(Number(server.attributes["gen_ai.response.time_to_first_chunk"]) > 0);
      assert.ok(!Object.values(server.attributes).includes(KEY), "the key itself is never an attribute");
      assert.equal(server.status.code ?? 0, 0);

      assert.equal(attempt.traceId, CALLER_TRACE);
      assert.equal(attempt.kind, SPAN_KIND.CLIENT);
      assert.equal(attempt.name, `chat ${MODEL}`);
      assertAttributes(attempt, {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "gen_ai.usage.output_tokens": 5,
        "http.response.status_code": 200,
        "server.address": "127.0.0.1",
        "nexus.upstream": "mock",
        "nexus.attempt": 1,
      });
      assert.ok(
        attempt.startTimeUnixNano >= server.startTimeUnixNano && attempt.endTimeUnixNano <= server.endTimeUnixNano,
      );
      assert.equal(server.resource["service.name"], "nexus-under-test");
      assert.equal(server.resource["deployment.environment.name"], "test");
      assert.equal(server.scope, "nexus-gateway");
      assert.ok(receiver.exports.every((e) => e.path === "/v1/traces" && e.headers.get("x-tenant") === "team-a"));
      assert.doesNotMatch(gateway.child.output(), /trace export failed/);
      await eventually(() =>
        assert.equal(logLines(gateway.child.output(), "trace-chat").get("request")?.trace_id, CALLER_TRACE)
      );
    },
  );

  await t.step("an embeddings call: operation embeddings, input tokens, no stream attribute", async () => {
    await client.embeddings.create({ model: MODEL, input: ["red fox", "blue whale"] }, {
      headers: { "x-request-id": "trace-embeddings" },
    });
    const { server, attempts: [attempt] } = await trace(() => receiver.spans(), "trace-embeddings", 1);
    assert.equal(server.name, "POST /v1/embeddings");
    assert.notEqual(server.traceId, CALLER_TRACE, "a request without traceparent starts its own trace");
    assert.equal(server.parentSpanId, "");
    for (const span of [server, attempt]) {
      assertAttributes(span, { "gen_ai.operation.name": "embeddings", "gen_ai.request.model": MODEL });
      assert.ok(Number(span.attributes["gen_ai.usage.input_tokens"]) > 0, `${span.name}: input tokens`);
      assert.equal(span.attributes["gen_ai.usage.output_tokens"], undefined);
    }
    assert.equal(server.attributes["gen_ai.request.stream"], undefined);
    assert.equal(attempt.name, `embeddings ${MODEL}`);
  });

  await t.step(
    "a retried request: two attempt spans, the first failed with 503, and each upstream got its own span as parent",
    async () => {
      const answer = await client.chat.completions.create({ model: "retry-me", messages }, {
        headers: { "x-request-id": "trace-retry" },
      });
      assert.ok(answer.choices[0].message.content);
      const { server, attempts } = await trace(() => receiver.spans(), "trace-retry", 2);
      assert.deepEqual(attempts.map((s) => s.attributes["nexus.upstream"]), ["down", "mock"]);
      assertAttributes(attempts[0], { "http.response.status_code": 503, "error.type": "503", "nexus.attempt": 1 });
      assert.equal(attempts[0].status.code, STATUS_ERROR);
      assertAttributes(attempts[1], { "http.response.status_code": 200, "nexus.attempt": 2 });
      assert.equal(attempts[1].status.code ?? 0, 0);
      assertAttributes(server, { "http.response.status_code": 200, "nexus.attempts": 2, "nexus.upstream": "mock" });
      // The upstream that answered 503 was told the first attempt's span as its parent.
      const traceparent = /^traceparent: (.*)$/im.exec(down.heads.at(-1)!)?.[1].trim();
      assert.equal(traceparent, `00-${server.traceId}-${attempts[0].spanId}-01`);
      // Each of the request's log lines names its trace.
      await eventually(() => {
        const lines = logLines(gateway.child.output(), "trace-retry");
        assert.deepEqual(
          ["upstream attempt failed", "retrying", "request"].map((msg) => lines.get(msg)?.trace_id),
          [server.traceId, server.traceId, server.traceId],
        );
      });
    },
  );
});

Deno.test("spans still queued when the gateway gets SIGTERM are exported before it exits (http/protobuf, the default)", async () => {
  await using receiver = startOtlpReceiver();
  await using worker = await startWorker({ WORKER_TOKEN_DELAY_MS: "0", WORKER_TTFT_MS: "0" });
  const gateway = await startGateway(mockGatewayEnv(worker.url, KEY, {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: "600000", // no scheduled export during the test: only the shutdown flush exports
  }));
  try {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY, "x-request-id": "trace-last-request" },
      body: JSON.stringify({ model: MODEL, messages }),
    });
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(receiver.exports.length, 0);
  } finally {
    await gateway.stop();
  }
  assert.doesNotMatch(gateway.child.output(), /trace export failed/);
  assert.equal(receiver.exports.length, 1);
  const [exported] = receiver.exports;
  assert.equal(exported.path, "/v1/traces");
  assert.equal(exported.headers.get("content-type"), "application/x-protobuf");
  // Protobuf keeps strings as UTF-8 bytes: the request's id and both span names are in the body.
  const text = new TextDecoder().decode(exported.body);
  for (const expected of ["trace-last-request", "POST /v1/chat/completions", `chat ${MODEL}`, "nexus-gateway"]) {
    assert.ok(text.includes(expected), `${expected} in the exported protobuf`);
  }
});

Deno.test("a bad OTEL_* variable stops the gateway at startup, naming the variable", async () => {
  const result = await runDeno("gateway/main.ts", {
    env: {
      GATEWAY_UPSTREAMS: "a=http://127.0.0.1:1",
      GATEWAY_API_KEYS: "k",
      GATEWAY_PORT: "0",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4317",
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
    },
  });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /invalid configuration: OTEL_EXPORTER_OTLP_PROTOCOL: .*not grpc/);
});
