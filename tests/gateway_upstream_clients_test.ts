/**
 * The gateway with each GATEWAY_UPSTREAM_CLIENT (pool: gateway/upstream_pool.ts, the default; fetch) against real mock workers: the OpenAI
 * client streamed and not, keep-alive reuse, abort propagation, retry on a refused connection, timeouts, SIGTERM drain.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { assertOpenAI } from "./support/openai_schema.ts";
import { readChatStream } from "./support/chat_stream.ts";
import { freePort, mockGatewayEnv, startGateway, startWorker } from "./support/process.ts";
import { scrape } from "./support/prometheus.ts";
import { eventually } from "./support/eventually.ts";
import { answering } from "./support/raw_upstream.ts";

const KEY = "sk-test-pool-445566";
const messages = [{ role: "user" as const, content: "hello" }];
for (const kind of ["pool", "fetch"] as const) {
  const CLIENT = { GATEWAY_UPSTREAM_CLIENT: kind, GATEWAY_RATE_LIMIT_RPM: "0" };

  Deno.test(`${kind} client: the OpenAI client gets completions, streamed and not, over reused connections`, async (t) => {
    await using worker = await startWorker({ WORKER_TOKEN_DELAY_MS: "1", WORKER_MAX_TOKENS: "6", WORKER_TTFT_MS: "1" });
    await using gateway = await startGateway(mockGatewayEnv(worker.url, KEY, CLIENT));
    const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    assert.ok(gateway.child.output().includes(`"upstream_client":"${kind}"`), `the gateway runs the ${kind} client`);

    await t.step("not streamed", async () => {
      for (let i = 0; i < 20; i++) {
        const { data, response } = await client.chat.completions.create({ model: "mock-worker", messages })
          .withResponse();
        assertOpenAI("CreateChatCompletionResponse", data);
        assert.ok(data.usage && data.usage.completion_tokens > 0);
        assert.equal(response.headers.get("x-nexus-upstream"), "mock");
      }
      const completion = await client.completions.create({ model: "mock-worker", prompt: "hi" });
      assertOpenAI("CreateCompletionResponse", completion);
    });

    await t.step("streamed, with usage, ending normally", async () => {
      for (let i = 0; i < 5; i++) {
        const { text, completionTokens } = await readChatStream(client, { model: "mock-worker", messages });
        assert.ok(text.length > 0);
        assert.equal(completionTokens, 6);
      }
      assert.equal(await scrape(gateway.metricsUrl, "nexus_tokens_total", { type: "completion" }), 26 * 6);
    });
  });

  Deno.test(`${kind} client: the upstream's headers reach the client, every set-cookie, hop-by-hop ones dropped`, async () => {
    const body = JSON.stringify({
      object: "chat.completion",
      choices: [],
      usage: { prompt_tokens: 1, total_tokens: 1 },
    });
    await using upstream = answering(() =>
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n" +
      "Keep-Alive: timeout=5\r\nX-Request-Id: upstream-id\r\nX-Upstream-Note: kept\r\n" +
      `Content-Length: ${body.length}\r\n\r\n${body}`
    );
    const env = { ...CLIENT, GATEWAY_RATE_LIMIT_RPM: "100" };
    await using gateway = await startGateway(mockGatewayEnv(upstream.origin, KEY, env));
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY, "x-request-id": "client-id" },
      body: JSON.stringify({ model: "mock-worker", messages }),
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), body);
    assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.equal(response.headers.get("x-upstream-note"), "kept");
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("keep-alive"), null, "hop-by-hop headers stay between gateway and upstream");
    assert.equal(response.headers.get("x-request-id"), "client-id", "the gateway's own headers win");
    assert.equal(response.headers.get("x-nexus-upstream"), "mock");
    assert.equal(response.headers.get("x-ratelimit-limit-requests"), "100");
  });

  Deno.test(`${kind} client: a client that goes away aborts the upstream request, streamed or not`, async (t) => {
    await using worker = await startWorker({
      WORKER_TOKEN_DELAY_MS: "200",
      WORKER_MAX_TOKENS: "50",
      WORKER_TTFT_MS: "0",
    });
    await using gateway = await startGateway(mockGatewayEnv(worker.url, KEY, CLIENT));
    const aborts = () => scrape(worker.url, "vllm:request_success_total", { finished_reason: "abort" });
    const request = (stream: boolean, signal: AbortSignal) =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "x-api-key": KEY },
        body: JSON.stringify({ model: "mock-worker", messages, stream }),
        signal,
      });

    await t.step("streamed: closing the stream after the first token", async () => {
      const before = await aborts();
      const controller = new AbortController();
      const response = await request(true, controller.signal);
      await response.body!.getReader().read();
      controller.abort();
      await eventually(async () => await aborts() === before + 1, { what: "the worker counts an abort" });
    });

    await t.step("not streamed: leaving while the worker is still generating", async () => {
      const before = await aborts();
      const controller = new AbortController();
      const pending = request(false, controller.signal).catch(() => "aborted");
      await eventually(async () => await scrape(worker.url, "vllm:num_requests_running") === 1, {
        what: "the worker generates",
      });
      controller.abort();
      assert.equal(await pending, "aborted");
      await eventually(async () => await aborts() === before + 1, { what: "the worker counts an abort" });
      await eventually(async () => await scrape(gateway.metricsUrl, "nexus_in_flight_requests") === 0, {
        what: "in-flight back to 0",
      });
    });
  });

  Deno.test(`${kind} client: a refused connection is retried on the next upstream; a slow one times out`, async (t) => {
    await using healthy = await startWorker({ WORKER_TOKEN_DELAY_MS: "0", WORKER_TTFT_MS: "0" });
    await using slow = await startWorker({ WORKER_TTFT_MS: "5000", WORKER_TOKEN_DELAY_MS: "0" });
    await using gateway = await startGateway({
      GATEWAY_UPSTREAMS: `healthy=${healthy.url};slow=${slow.url};down=http://127.0.0.1:${freePort()}`,
      GATEWAY_ROUTE_POLICIES: JSON.stringify({
        "first-down": { strategy: "fallback", upstreams: ["down", "healthy"] },
        "slow": { strategy: "fallback", upstreams: ["slow"] },
      }),
      GATEWAY_API_KEYS: KEY,
      GATEWAY_EJECT_AFTER_FAILURES: "0",
      GATEWAY_FIRST_BYTE_TIMEOUT_MS: "300",
      ...CLIENT,
    });
    const ask = (model: string) =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "x-api-key": KEY },
        body: JSON.stringify({ model, messages }),
      });

    await t.step("refused, then answered by the next upstream", async () => {
      const response = await ask("first-down");
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("x-nexus-upstream"), "healthy");
      assertOpenAI("CreateChatCompletionResponse", await response.json());
      assert.equal(
        await scrape(gateway.metricsUrl, "nexus_upstream_errors_total", { upstream: "down", kind: "connect" }),
        1,
      );
    });

    await t.step(
      "no answer within GATEWAY_FIRST_BYTE_TIMEOUT_MS: 504 and the worker's request is aborted",
      async () => {
        const response = await ask("slow");
        assert.equal(response.status, 504);
        assert.equal((await response.json()).error.code, "upstream_timeout");
        await eventually(
          async () => await scrape(slow.url, "vllm:request_success_total", { finished_reason: "abort" }) === 1,
          { what: "the slow worker counts an abort" },
        );
      },
    );
  });

  Deno.test(`${kind} client: on SIGTERM the stream in flight completes and the gateway exits 0`, async () => {
    await using worker = await startWorker({
      WORKER_TOKEN_DELAY_MS: "100",
      WORKER_MAX_TOKENS: "10",
      WORKER_TTFT_MS: "0",
    });
    await using gateway = await startGateway(mockGatewayEnv(worker.url, KEY, CLIENT));
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY },
      body: JSON.stringify({ model: "mock-worker", messages, stream: true }),
    });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = (await reader.read()).value ?? "";
    gateway.child.kill("SIGTERM");
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    assert.ok(text.trimEnd().endsWith("data: [DONE]"), text);
    assert.equal((await gateway.child.exited).code, 0);
    assert.ok(gateway.child.output().includes("drained, exiting"));
  });
}
