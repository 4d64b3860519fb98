/** The gateway's API against a real mock worker: completions (streamed and not), models, probes, metrics, logs. */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { readChatStream } from "./support/chat_stream.ts";
import { assertOpenAI, assertOpenAICompletionChunk } from "./support/openai_schema.ts";
import { mockGatewayEnv, startGateway, startWorker } from "./support/process.ts";
import { metricValue, scrape } from "./support/prometheus.ts";
import { sseData } from "./support/sse.ts";

const KEY = "sk-test-api-0123456789";
const messages = [{ role: "user" as const, content: "hello" }];

Deno.test("the gateway serves the OpenAI API through a mock worker", async (t) => {
  await using worker = await startWorker({
    WORKER_TOKEN_DELAY_MS: "2",
    WORKER_MAX_TOKENS: "6",
    WORKER_TTFT_MS: "5",
    WORKER_LOG_REQUESTS: "true",
  });
  await using gateway = await startGateway(mockGatewayEnv(worker.url, `other-key,${KEY}`, {
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ "canary-model": { strategy: "fallback", upstreams: ["mock"] } }),
  }));
  const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

  await t.step("a chat completion validates against OpenAI's schema and names its upstream", async () => {
    const { data, response } = await client.chat.completions.create({ model: "mock-worker", messages }).withResponse();
    assertOpenAI("CreateChatCompletionResponse", data);
    assert.equal(data.choices[0].message.refusal, null);
    assert.ok(data.usage && data.usage.completion_tokens > 0);
    assert.equal(response.headers.get("x-nexus-upstream"), "mock");
    assert.match(response.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  });

  await t.step("a streamed chat completion arrives as schema-valid chunks with usage, ending in [DONE]", async () => {
    const { text, completionTokens } = await readChatStream(client, { model: "mock-worker", messages });
    assert.ok(text.length > 0);
    assert.ok(completionTokens > 0);
    const raw = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-worker", messages, stream: true }),
    });
    assert.equal((await sseData(raw)).at(-1), "[DONE]");
  });

  await t.step("completions, streamed and not, validate against OpenAI's schemas", async () => {
    const completion = await client.completions.create({ model: "mock-worker", prompt: "once upon" });
    assertOpenAI("CreateCompletionResponse", completion);
    const stream = await client.completions.create({ model: "mock-worker", prompt: "once upon", stream: true });
    let chunks = 0;
    for await (const chunk of stream) {
      assertOpenAICompletionChunk(chunk);
      chunks++;
    }
    assert.ok(chunks > 1);
    const raw = await fetch(`${gateway.url}/v1/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY },
      body: JSON.stringify({ model: "mock-worker", prompt: "once upon", stream: true }),
    });
    assert.equal((await sseData(raw)).at(-1), "[DONE]");
  });

  await t.step("/v1/models lists the policy models and the default upstream's models", async () => {
    const response = await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } });
    const body = await response.json();
    assertOpenAI("ListModelsResponse", body);
    const ids = body.data.map((m: { id: string }) => m.id).sort();
    assert.deepEqual(ids, ["canary-model", "mock-worker"]);
    const page = await client.models.list();
    assert.deepEqual(page.data.map((m) => m.id).sort(), ids);
  });

  await t.step("an incoming X-Request-ID is honoured, returned and reaches the worker without the key", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY, "x-request-id": "trace-abc.123" },
      body: JSON.stringify({ model: "mock-worker", messages }),
    });
    await response.body?.cancel();
    assert.equal(response.headers.get("x-request-id"), "trace-abc.123");
    const line = await gateway.child.waitForLine((l) => l.includes('"request_id":"trace-abc.123"'));
    const entry = JSON.parse(line);
    assert.equal(entry.status, 200);
    assert.equal(entry.model, "mock-worker");
    assert.equal(entry.upstream, "mock");
    const seen = JSON.parse(await worker.child.waitForLine((l) => l.includes('"request_id":"trace-abc.123"')));
    assert.deepEqual([seen.path, seen.auth_headers], ["/v1/chat/completions", []]);
  });

  await t.step("an X-Request-ID that is not 1-128 safe characters is replaced by a new id", async () => {
    for (const incoming of ["has spaces", "x".repeat(129), 'quote"d']) {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "x-api-key": KEY, "x-request-id": incoming },
        body: JSON.stringify({ model: "mock-worker", messages }),
      });
      await response.body?.cancel();
      assert.match(response.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/, incoming);
    }
  });

  await t.step(
    "/metrics is a 404 on the API port and answers on GATEWAY_METRICS_PORT, which serves nothing else",
    async () => {
      for (const method of ["GET", "HEAD"]) {
        const onApi = await fetch(`${gateway.url}/metrics`, { method, headers: { "x-api-key": KEY } });
        assert.equal(onApi.status, 404, method);
        if (method === "GET") assertOpenAI("ErrorResponse", await onApi.json());
        else await onApi.body?.cancel();
      }
      const onMetrics = await fetch(`${gateway.metricsUrl}/metrics`);
      assert.equal(onMetrics.status, 200);
      assert.match(onMetrics.headers.get("content-type") ?? "", /^text\/plain/);
      assert.match(await onMetrics.text(), /# TYPE nexus_requests_total counter/);
      for (const path of ["/v1/chat/completions", "/health", "/"]) {
        const other = await fetch(`${gateway.metricsUrl}${path}`);
        await other.body?.cancel();
        assert.equal(other.status, 404, path);
      }
    },
  );

  await t.step(
    "/health and /ready answer 200 on the API port, /metrics has nexus_* metrics with tokens from usage",
    async () => {
      assert.equal((await fetch(`${gateway.url}/health`).then(async (r) => [r.status, await r.json()]))[0], 200);
      const ready = await fetch(`${gateway.url}/ready`);
      assert.deepEqual([ready.status, await ready.json()], [200, { status: "ready" }]);
      const text = await (await fetch(`${gateway.metricsUrl}/metrics`)).text();
      const ok = { model: "mock-worker", upstream: "mock", status: "200" };
      assert.ok(metricValue(text, "nexus_requests_total", ok) >= 5);
      assert.ok(metricValue(text, "nexus_tokens_total", { model: "mock-worker", type: "completion" }) > 0);
      assert.ok(metricValue(text, "nexus_tokens_total", { model: "mock-worker", type: "prompt" }) > 0);
      assert.ok(metricValue(text, "nexus_request_duration_seconds_count", { model: "mock-worker" }) >= 5);
      assert.ok(metricValue(text, "nexus_time_to_first_token_seconds_count", { model: "mock-worker" }) >= 2);
      assert.ok(metricValue(text, "nexus_gateway_overhead_seconds_count") >= 5);
      assert.equal(metricValue(text, "nexus_in_flight_requests"), 0);
      for (const name of ["nexus_rate_limited_total", "nexus_upstream_errors_total", "nexus_retries_total"]) {
        assert.ok(text.includes(`# TYPE ${name} counter`), name);
      }
      assert.ok(text.includes("# TYPE nexus_redis_errors_total counter"));
    },
  );

  await t.step("every request gets one JSON log line, and no line contains the API key", async () => {
    await new Promise((resolve) => setTimeout(resolve, 100)); // log lines are flushed on the next tick
    const lines = gateway.child.stdout.filter((l) => l.trim());
    for (const line of lines) JSON.parse(line);
    const requests = lines.map((l) => JSON.parse(l)).filter((e) => e.msg === "request");
    assert.ok(requests.length >= 7);
    for (const entry of requests) assert.ok(entry.request_id, JSON.stringify(entry));
    for (const line of lines) {
      const entry = JSON.parse(line);
      assert.equal(entry.service, "gateway", line);
      assert.ok(!Number.isNaN(Date.parse(entry.time)) && entry.level && entry.msg, line);
    }
    assert.equal(requests.filter((e) => e.request_id === "trace-abc.123").length, 1, "one line per request");
    assert.ok(!gateway.child.output().includes(KEY));
  });
});

Deno.test("streamed tokens reach the client while the worker is still generating (no buffering)", async () => {
  await using worker = await startWorker({ WORKER_TOKEN_DELAY_MS: "200", WORKER_MAX_TOKENS: "6", WORKER_TTFT_MS: "0" });
  await using gateway = await startGateway(mockGatewayEnv(worker.url, KEY));
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "x-api-key": KEY },
    body: JSON.stringify({ model: "mock-worker", messages, stream: true }),
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let received = "";
  while (!received.includes('"content":"')) received += (await reader.read()).value ?? "";
  // The first token is here; the worker must still be generating the rest.
  assert.equal(await scrape(worker.url, "vllm:num_requests_running"), 1);
  assert.equal(await scrape(gateway.metricsUrl, "nexus_in_flight_requests"), 1, "a stream in flight counts");
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value;
  }
  assert.ok(received.trimEnd().endsWith("data: [DONE]"));
  assert.equal(await scrape(worker.url, "vllm:num_requests_running"), 0);
  assert.equal(await scrape(gateway.metricsUrl, "nexus_in_flight_requests"), 0);
});
