/** Routing by model across real workers: canary, weighted, fallback, retry, ejection, KServe base paths. */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { assertOpenAI } from "./support/openai_schema.ts";
import { freePort, startGateway, startService, startWorker } from "./support/process.ts";
import { scrape } from "./support/prometheus.ts";

const KEY = "sk-test-routing-13579";
const FAST_WORKER = { WORKER_TOKEN_DELAY_MS: "0", WORKER_TTFT_MS: "0", WORKER_MAX_TOKENS: "1" };

async function ask(
  gatewayUrl: string,
  model: string,
): Promise<{ status: number; upstream: string | null; body: unknown }> {
  const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "x-api-key": KEY },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  return { status: response.status, upstream: response.headers.get("x-nexus-upstream"), body: await response.json() };
}

/** Sends n requests (10 at a time) and counts which upstream served each. */
async function tally(gatewayUrl: string, model: string, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let sent = 0; sent < n; sent += 10) {
    const batch = await Promise.all(Array.from({ length: Math.min(10, n - sent) }, () => ask(gatewayUrl, model)));
    for (const answer of batch) {
      assert.equal(answer.status, 200);
      counts.set(answer.upstream!, (counts.get(answer.upstream!) ?? 0) + 1);
    }
  }
  return counts;
}

Deno.test("policies split traffic: canary by percent, weighted by weight, default upstream otherwise", async (t) => {
  await using a = await startWorker(FAST_WORKER);
  await using b = await startWorker(FAST_WORKER);
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `vllm=${a.url};sglang=${b.url}`,
    GATEWAY_DEFAULT_UPSTREAM: "sglang",
    GATEWAY_ROUTE_POLICIES: JSON.stringify({
      "canary-model": { strategy: "canary", primary: "vllm", canary: "sglang", percent: 25 },
      "weighted-model": { strategy: "weighted", weights: { vllm: 3, sglang: 1 } },
    }),
    GATEWAY_API_KEYS: KEY,
    GATEWAY_RATE_LIMIT_RPM: "0",
  });

  await t.step("canary sends about percent% to the canary", async () => {
    const counts = await tally(gateway.url, "canary-model", 200);
    const share = (counts.get("sglang") ?? 0) / 200;
    assert.ok(share > 0.1 && share < 0.45, `canary share ${share}`);
  });

  await t.step("weighted sends about weight/total to each upstream", async () => {
    const counts = await tally(gateway.url, "weighted-model", 200);
    const share = (counts.get("vllm") ?? 0) / 200;
    assert.ok(share > 0.6 && share < 0.9, `vllm share ${share}`);
  });

  await t.step("a model without a policy goes to the default upstream", async () => {
    const counts = await tally(gateway.url, "anything-else", 20);
    assert.deepEqual([...counts], [["sglang", 20]]);
  });
});

Deno.test("a 5xx or a refused connection before the first byte is retried once on another upstream", async (t) => {
  await using healthy = await startWorker(FAST_WORKER);
  await using failing = await startWorker({ ...FAST_WORKER, WORKER_FAIL_STATUS: "503" });
  const nothing = `http://127.0.0.1:${freePort()}`;
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `healthy=${healthy.url};failing=${failing.url};down=${nothing}`,
    GATEWAY_ROUTE_POLICIES: JSON.stringify({
      "canary-fails": { strategy: "canary", primary: "healthy", canary: "failing", percent: 100 },
      "primary-fails": { strategy: "canary", primary: "failing", canary: "healthy", percent: 0 },
      "first-down": { strategy: "fallback", upstreams: ["down", "healthy"] },
      "all-fail": { strategy: "fallback", upstreams: ["failing", "down"] },
      "both-5xx": { strategy: "weighted", weights: { failing: 1 } },
    }),
    GATEWAY_API_KEYS: KEY,
    GATEWAY_RATE_LIMIT_RPM: "0",
    GATEWAY_EJECT_AFTER_FAILURES: "0",
  });

  await t.step("a failing canary falls back to the primary", async () => {
    const answer = await ask(gateway.url, "canary-fails");
    assert.deepEqual([answer.status, answer.upstream], [200, "healthy"]);
    assertOpenAI("CreateChatCompletionResponse", answer.body);
  });

  await t.step("a failing primary is retried on the canary", async () => {
    const answer = await ask(gateway.url, "primary-fails");
    assert.deepEqual([answer.status, answer.upstream], [200, "healthy"]);
  });

  await t.step("an upstream that refuses connections is retried on the next one", async () => {
    const answer = await ask(gateway.url, "first-down");
    assert.deepEqual([answer.status, answer.upstream], [200, "healthy"]);
  });

  await t.step("the failed attempt and the retry are logged with the request id", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY, "x-request-id": "retry-rid-1" },
      body: JSON.stringify({ model: "first-down", messages: [{ role: "user", content: "hi" }] }),
    });
    await response.body?.cancel();
    const line = (msg: string) =>
      gateway.child.waitForLine((l) => l.includes('"request_id":"retry-rid-1"') && l.includes(`"msg":"${msg}"`));
    const failed = JSON.parse(await line("upstream attempt failed"));
    assert.deepEqual([failed.upstream, failed.kind, failed.level], ["down", "connect", "warn"]);
    assert.equal(JSON.parse(await line("retrying")).upstream, "healthy");
    const request = JSON.parse(await line("request"));
    assert.deepEqual([request.status, request.upstream, request.attempts], [200, "healthy", 2]);
  });

  await t.step("a streamed request is retried too", async () => {
    const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: "primary-fails",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    let chunks = 0;
    for await (const _ of stream) chunks++;
    assert.ok(chunks > 0);
  });

  await t.step(
    "when every attempt fails the client gets an OpenAI error (502 when the last was unreachable)",
    async () => {
      const answer = await ask(gateway.url, "all-fail");
      assert.equal(answer.status, 502);
      assertOpenAI("ErrorResponse", answer.body);
      const only = await ask(gateway.url, "both-5xx");
      assert.deepEqual([only.status, only.upstream], [503, "failing"]);
      assertOpenAI("ErrorResponse", only.body);
    },
  );

  await t.step("retries and upstream errors are counted", async () => {
    assert.ok(await scrape(gateway.metricsUrl, "nexus_retries_total", { upstream: "healthy" }) >= 4);
    assert.ok(
      await scrape(gateway.metricsUrl, "nexus_upstream_errors_total", { upstream: "failing", kind: "status" }) >= 3,
    );
    assert.ok(
      await scrape(gateway.metricsUrl, "nexus_upstream_errors_total", { upstream: "down", kind: "connect" }) >= 2,
    );
  });
});

Deno.test("an upstream that keeps failing is ejected for a while and comes back by itself", async () => {
  await using healthy = await startWorker(FAST_WORKER);
  const flakyPort = freePort();
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `flaky=http://127.0.0.1:${flakyPort};healthy=${healthy.url}`,
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ m: { strategy: "fallback", upstreams: ["flaky", "healthy"] } }),
    GATEWAY_API_KEYS: KEY,
    GATEWAY_RATE_LIMIT_RPM: "0",
    GATEWAY_EJECT_AFTER_FAILURES: "2",
    GATEWAY_EJECT_SECONDS: "1",
  });
  const errors = () => scrape(gateway.metricsUrl, "nexus_upstream_errors_total", { upstream: "flaky" });
  for (let i = 0; i < 2; i++) assert.equal((await ask(gateway.url, "m")).upstream, "healthy");
  assert.equal(await errors(), 2);
  assert.equal(await scrape(gateway.metricsUrl, "nexus_upstream_ejections_total", { upstream: "flaky" }), 1);
  for (let i = 0; i < 5; i++) assert.equal((await ask(gateway.url, "m")).upstream, "healthy");
  assert.equal(await errors(), 2, "an ejected upstream is not tried");

  await using _flaky = await startService("worker/main.ts", {
    env: { WORKER_HOST: "127.0.0.1", ...FAST_WORKER },
    portVariable: "WORKER_PORT",
    port: flakyPort,
  });
  let servedBy: string | null = null;
  for (let i = 0; i < 100 && servedBy !== "flaky"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    servedBy = (await ask(gateway.url, "m")).upstream;
  }
  assert.equal(servedBy, "flaky", "the upstream came back after its ejection");
});

Deno.test("an upstream URL with a base path (KServe /openai) gets requests under <url>/v1", async () => {
  await using worker = await startWorker({ ...FAST_WORKER, WORKER_BASE_PATH: "/openai" });
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `kserve=${worker.url}/openai`,
    GATEWAY_DEFAULT_UPSTREAM: "kserve",
    GATEWAY_API_KEYS: KEY,
  });
  const answer = await ask(gateway.url, "mock-worker");
  assert.deepEqual([answer.status, answer.upstream], [200, "kserve"]);
  const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["mock-worker"]);
});
