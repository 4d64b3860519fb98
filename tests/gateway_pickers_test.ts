/**
 * Endpoint picking across real mock workers behind one upstream: a saturated worker gets fewer requests under `load`
 * and `least_request`, a shared prompt prefix sticks to one worker under `prefix` (and spills over when that worker
 * is too loaded), a retry goes to another endpoint of the same upstream first. Counts come from each worker's own
 * `vllm:request_success_total`.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { freePort, type Service, startGateway, startWorker } from "./support/process.ts";
import { scrape } from "./support/prometheus.ts";

const KEY = "sk-test-pickers-2468";
/** A worker that answers quickly and runs many requests at once. */
const FAST = { WORKER_TTFT_MS: "20", WORKER_TOKEN_DELAY_MS: "10", WORKER_MAX_TOKENS: "16" };
/** A saturated worker: one request at a time, each a long generation (about 1.2 s). */
const SATURATED = {
  WORKER_MAX_NUM_SEQS: "1",
  WORKER_TTFT_MS: "20",
  WORKER_TOKEN_DELAY_MS: "25",
  WORKER_MAX_TOKENS: "48",
};

/** Requests each worker has finished so far, from its own metrics. */
function successes(workers: Service[]): Promise<number[]> {
  return Promise.all(workers.map((w) => scrape(w.url, "vllm:request_success_total")));
}

/** Requests each worker finished since `before`. */
async function servedSince(workers: Service[], before: number[]): Promise<number[]> {
  return (await successes(workers)).map((n, i) => n - before[i]);
}

/** `total` chat requests through the gateway, `concurrency` at a time (closed loop); every one must succeed. */
async function load(
  client: OpenAI,
  options: { total: number; concurrency: number; messages: (i: number) => OpenAI.ChatCompletionMessageParam[] },
): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < options.total) {
      const i = next++;
      const answer = await client.chat.completions.create({ model: "mock-worker", messages: options.messages(i) });
      assert.equal(answer.choices[0].finish_reason, "stop");
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, runner));
}

function question(i: number): OpenAI.ChatCompletionMessageParam[] {
  return [{ role: "user", content: `Question ${i}: what is ${i} times ${i + 1}?` }];
}

/** A long system prompt (about 2,000 words) shared by every request of one tenant. */
function tenantPrompt(tenant: string): string {
  const words = [`You are the assistant of ${tenant}.`];
  for (let i = 0; i < 2_000; i++) words.push(`rule${(i * 7919) % 997}`);
  return words.join(" ");
}

function gatewayEnv(urls: string[], extra: Record<string, string>): Record<string, string> {
  return {
    GATEWAY_UPSTREAMS: `mock=${urls.join(",")}`,
    GATEWAY_DEFAULT_UPSTREAM: "mock",
    GATEWAY_API_KEYS: KEY,
    GATEWAY_RATE_LIMIT_RPM: "0",
    ...extra,
  };
}

Deno.test("a saturated worker gets clearly fewer requests than the others under load and least_request", async (t) => {
  await using saturated = await startWorker(SATURATED);
  await using fastA = await startWorker(FAST);
  await using fastB = await startWorker(FAST);
  const workers = [saturated, fastA, fastB];
  for (const picker of ["least_request", "load"]) {
    await t.step(picker, async () => {
      await using gateway = await startGateway(
        gatewayEnv(workers.map((w) => w.url), { GATEWAY_PICKER: picker, GATEWAY_LOAD_SCRAPE_MS: "50" }),
      );
      const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      const before = await successes(workers);
      await load(client, { total: 60, concurrency: 9, messages: question });
      const [onSaturated, onA, onB] = await servedSince(workers, before);
      assert.equal(onSaturated + onA + onB, 60, "every request was served once");
      assert.ok(onSaturated * 2 < Math.min(onA, onB), `${picker}: saturated ${onSaturated}, others ${onA} and ${onB}`);
    });
  }
});

Deno.test("prefix: 20 requests sharing a long prefix land on one worker while its load is under the threshold", async (t) => {
  await using a = await startWorker(FAST);
  await using b = await startWorker(FAST);
  await using c = await startWorker(FAST);
  const workers = [a, b, c];
  await using gateway = await startGateway(gatewayEnv(workers.map((w) => w.url), { GATEWAY_PICKER: "prefix" }));
  const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

  await t.step("one tenant's requests, one at a time, all go to one worker, whose prefix cache hits", async () => {
    const system = tenantPrompt("tenant-a");
    const before = await successes(workers);
    const hitsBefore = await Promise.all(workers.map((w) => scrape(w.url, "vllm:prefix_cache_hits_total")));
    await load(client, {
      total: 20,
      concurrency: 1,
      messages: (i) => [{ role: "system", content: system }, ...question(i)],
    });
    const served = await servedSince(workers, before);
    assert.deepEqual(served.toSorted((x, y) => x - y), [0, 0, 20], `served ${served}`);
    const home = served.indexOf(20);
    const hits = await scrape(workers[home].url, "vllm:prefix_cache_hits_total") - hitsBefore[home];
    assert.ok(hits >= 19 * 1_900, `the 19 requests after the first hit the cached prompt: ${hits} tokens`);
  });

  await t.step("requests without a shared prefix are spread by load", async () => {
    const before = await successes(workers);
    await load(client, { total: 30, concurrency: 6, messages: question });
    const served = await servedSince(workers, before);
    assert.ok(served.every((n) => n > 0), `served ${served}`);
  });
});

Deno.test("prefix: a hot prefix spills over to other workers once its worker is more loaded than the threshold", async () => {
  const slow = { WORKER_TTFT_MS: "20", WORKER_TOKEN_DELAY_MS: "40", WORKER_MAX_TOKENS: "20" };
  await using a = await startWorker(slow);
  await using b = await startWorker(slow);
  await using c = await startWorker(slow);
  const workers = [a, b, c];
  await using gateway = await startGateway(
    gatewayEnv(workers.map((w) => w.url), { GATEWAY_PICKER: "prefix", GATEWAY_PREFIX_LOAD_THRESHOLD: "2" }),
  );
  const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  const system = tenantPrompt("hot-tenant");
  const before = await successes(workers);
  await load(client, {
    total: 24,
    concurrency: 12,
    messages: (i) => [{ role: "system", content: system }, ...question(i)],
  });
  const served = await servedSince(workers, before);
  assert.ok(served.filter((n) => n > 0).length >= 2, `12 at once exceed the threshold of 2: served ${served}`);
});

Deno.test("a retry goes to another endpoint of the same upstream before the next upstream", async () => {
  await using live = await startWorker(FAST);
  await using backup = await startWorker(FAST);
  const dead = `http://127.0.0.1:${freePort()}`; // nothing listens: connections are refused
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `pool=${dead},${live.url};backup=${backup.url}`,
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ "mock-worker": { strategy: "fallback", upstreams: ["pool", "backup"] } }),
    GATEWAY_PICKER: "round_robin",
    GATEWAY_EJECT_AFTER_FAILURES: "3",
    GATEWAY_API_KEYS: KEY,
    GATEWAY_RATE_LIMIT_RPM: "0",
  });
  const before = await successes([live, backup]);
  for (let i = 0; i < 6; i++) {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY },
      body: JSON.stringify({ model: "mock-worker", stream: i % 2 === 0, messages: question(i) }),
    });
    await response.body?.cancel();
    assert.deepEqual([response.status, response.headers.get("x-nexus-upstream")], [200, "pool"]);
  }
  assert.deepEqual(await servedSince([live, backup], before), [6, 0], "the backup upstream was never needed");
  assert.equal(await scrape(gateway.metricsUrl, "nexus_retries_total", { upstream: "pool" }), 3);
  assert.equal(await scrape(gateway.metricsUrl, "nexus_upstream_ejections_total", { upstream: "pool" }), 1);
  assert.equal(await scrape(gateway.metricsUrl, "nexus_upstream_endpoints", { upstream: "pool", state: "ready" }), 1);
  assert.equal(await scrape(gateway.metricsUrl, "nexus_upstream_endpoints", { upstream: "pool", state: "ejected" }), 1);

  const debug = await (await fetch(`${gateway.metricsUrl}/debug/endpoints`)).json();
  assert.deepEqual(
    debug.upstreams.pool.endpoints.map((e: { url: string; ejected: boolean; inFlight: number }) => [
      e.url,
      e.ejected,
      e.inFlight,
    ]),
    [[dead, true, 0], [live.url, false, 0]],
    "every request and stream released its endpoint",
  );
  assert.deepEqual(debug.upstreams.pool.pickers, ["round_robin"]);
  const onApiPort = await fetch(`${gateway.url}/debug/endpoints`);
  await onApiPort.body?.cancel();
  assert.equal(onApiPort.status, 404, "the debug view is only on the private metrics port");
});
