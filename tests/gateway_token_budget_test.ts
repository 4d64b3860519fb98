/**
 * Token budgets across real processes: two gateway replicas share one redis-server, in front of real mock workers.
 * What a key is admitted is measured by the workers' own counters (vllm:prompt_tokens_total and
 * vllm:generation_tokens_total), never by the gateway's word. Refill during a test is allowed for from the time the
 * test measured (a budget of tpm refills tpm/60000 tokens a millisecond), so nothing depends on how fast it runs.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { assertOpenAI } from "./support/openai_schema.ts";
import { startGateway, startRedis, startWorker } from "./support/process.ts";
import { scrape } from "./support/prometheus.ts";

const FAST_WORKER = { WORKER_TOKEN_DELAY_MS: "0", WORKER_TTFT_MS: "0", WORKER_MAX_TOKENS: "10" };
const BURST_KEY = "sk-test-tpm-burst-1357";
const SETTLE_KEY = "sk-test-tpm-settle-2468";
const DAILY_KEY = "sk-test-daily-quota-9753";
/** The mock counts one token per word of "user: hello": 2 prompt tokens; max_tokens 10 generates 10. */
const ACTUAL_TOKENS = 12;

/** The JSON body of a chat request for `model`, and the tokens the gateway reserves for it: bytes/4 + max_tokens. */
function chatBody(fields: Record<string, unknown> = {}): { body: string; reserves: number } {
  const request = { model: "mock-worker", messages: [{ role: "user", content: "hello" }], max_tokens: 10, ...fields };
  const body = JSON.stringify(request);
  return { body, reserves: Math.ceil(new TextEncoder().encode(body).byteLength / 4) + (request.max_tokens as number) };
}

async function post(gatewayUrl: string, init: { key: string; body: string }): Promise<Response> {
  return await fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "x-api-key": init.key },
    body: init.body,
  });
}

/** Tokens the workers processed: every admitted request's prompt and completion, by the workers' own count. */
async function workerTokens(...workerUrls: string[]): Promise<number> {
  let sum = 0;
  for (const url of workerUrls) {
    sum += await scrape(url, "vllm:prompt_tokens_total") + await scrape(url, "vllm:generation_tokens_total");
  }
  return sum;
}

/** Tokens a budget of `perMinute` can have refilled since `since` (performance.now()), rounded up. */
function refilledSince(perMinute: number, since: number): number {
  return Math.ceil(perMinute * (performance.now() - since) / 60_000);
}

async function keysFile(text: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(path, text);
  return path;
}

Deno.test("two replicas on one Redis admit a key's tokens up to its TPM, never more than one reservation past it", async () => {
  await using redis = await startRedis();
  await using workerA = await startWorker(FAST_WORKER);
  await using workerB = await startWorker(FAST_WORKER);
  const tpm = 300;
  const env = {
    GATEWAY_UPSTREAMS: `a=${workerA.url};b=${workerB.url}`,
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ "mock-worker": { strategy: "weighted", weights: { a: 1, b: 1 } } }),
    GATEWAY_API_KEYS_FILE: await keysFile(`keys:\n  - { name: burst, key: ${BURST_KEY}, rpm: 0, tpm: ${tpm} }\n`),
    REDIS_URL: redis.url,
  };
  await using a = await startGateway(env);
  await using b = await startGateway(env);
  const { body, reserves } = chatBody();
  const startedAt = performance.now();
  const admittedBy = { a: 0, b: 0 };
  let refused = 0;
  // Waves of concurrent requests over both replicas, until a whole wave is refused: by then the budget is spent, and
  // the reservations of finished requests were settled (given back down to their usage) before their answers left.
  for (let wave = 0; wave < 20; wave++) {
    const answers = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const replica = i % 2 ? "a" : "b";
        const response = await post(replica === "a" ? a.url : b.url, { key: BURST_KEY, body });
        const json = await response.json();
        return { replica, status: response.status, json, headers: response.headers } as const;
      }),
    );
    for (const answer of answers) {
      if (answer.status === 200) {
        admittedBy[answer.replica]++;
        assert.equal(answer.json.usage.total_tokens, ACTUAL_TOKENS);
      } else {
        assert.equal(answer.status, 429, JSON.stringify(answer.json));
        assertOpenAI("ErrorResponse", answer.json);
        assert.equal(answer.json.error.code, "rate_limit_exceeded");
        assert.ok(Number(answer.headers.get("x-ratelimit-remaining-tokens")) < reserves, "refused: it did not fit");
        assert.ok(Number(answer.headers.get("retry-after")) >= 1);
        refused++;
      }
    }
    if (answers.every((x) => x.status === 429)) break;
  }
  const processed = await workerTokens(workerA.url, workerB.url);
  const allowed = tpm + refilledSince(tpm, startedAt);
  assert.equal(processed, (admittedBy.a + admittedBy.b) * ACTUAL_TOKENS, "the workers saw only admitted requests");
  assert.ok(
    processed <= allowed + reserves,
    `${processed} tokens admitted; the budget allows ${allowed} + ${reserves}`,
  );
  assert.ok(processed > allowed - 2 * reserves, `${processed} tokens admitted: settling gave unused reservations back`);
  assert.ok(admittedBy.a > 0 && admittedBy.b > 0, `both replicas admitted some: ${JSON.stringify(admittedBy)}`);
  assert.ok(refused > 0);
  assert.equal(
    await scrape(a.metricsUrl, "nexus_rate_limited_total", { key: "burst", limit: "tokens" }) +
      await scrape(b.metricsUrl, "nexus_rate_limited_total", { key: "burst", limit: "tokens" }),
    refused,
  );
});

Deno.test("remaining tokens go down by each reservation, settle to real usage (whole or streamed), and a failure refunds", async (t) => {
  await using redis = await startRedis();
  await using worker = await startWorker(FAST_WORKER);
  await using failing = await startWorker({ ...FAST_WORKER, WORKER_FAIL_STATUS: "503" });
  const tpm = 600;
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `mock=${worker.url};failing=${failing.url}`,
    GATEWAY_DEFAULT_UPSTREAM: "mock",
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ broken: { strategy: "fallback", upstreams: ["failing"] } }),
    GATEWAY_API_KEYS_FILE: await keysFile(`keys:\n  - { name: settle, key: ${SETTLE_KEY}, tpm: ${tpm} }\n`),
    REDIS_URL: redis.url,
  });
  const startedAt = performance.now();
  let charged = 0; // tokens the key was charged so far by finished requests (their usage)

  /** Sends a request and checks its remaining-tokens header: the budget less what was charged, less its reservation. */
  async function send(fields: Record<string, unknown>): Promise<{ response: Response; remaining: number }> {
    const { body, reserves } = chatBody(fields);
    const response = await post(gateway.url, { key: SETTLE_KEY, body });
    const remaining = Number(response.headers.get("x-ratelimit-remaining-tokens"));
    const expected = tpm - charged - reserves;
    assert.equal(response.headers.get("x-ratelimit-limit-tokens"), String(tpm));
    assert.ok(
      remaining >= expected && remaining <= expected + refilledSince(tpm, startedAt),
      `remaining ${remaining}, expected ${expected} (+ refill)`,
    );
    return { response, remaining };
  }

  let last = Infinity;
  await t.step("a whole answer: the header shows its reservation taken, the next one shows its usage", async () => {
    for (let i = 0; i < 2; i++) {
      const { response, remaining } = await send({});
      assert.equal(response.status, 200);
      assert.equal((await response.json()).usage.total_tokens, ACTUAL_TOKENS);
      assert.ok(remaining < last, `the remaining tokens go down: ${remaining} after ${last}`);
      last = remaining;
      charged += ACTUAL_TOKENS;
    }
  });

  await t.step("a stream without include_usage is settled to the usage the gateway asked for", async () => {
    const { response, remaining } = await send({ stream: true });
    assert.ok(remaining < last);
    last = remaining;
    const text = await response.text();
    assert.ok(!text.includes('"usage"'), "the client gets the stream it asked for");
    charged += ACTUAL_TOKENS;
    const client = new OpenAI({ apiKey: SETTLE_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: "mock-worker",
      messages: [{ role: "user", content: "hello" }],
      max_tokens: 10,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    assert.equal(usage?.total_tokens, ACTUAL_TOKENS);
    charged += ACTUAL_TOKENS; // the client reads past [DONE] to the body's end, which the gateway settles before
  });

  await t.step("a request whose upstream failed before any token gives its whole reservation back", async () => {
    const { response, remaining } = await send({ model: "broken", max_tokens: 300 });
    assert.equal(response.status, 503);
    await response.body?.cancel();
    assert.ok(remaining < last - 300, "it held its reservation while it ran");
    const after = await send({}); // checks remaining = budget - charged (no 300) - this reservation
    assert.equal(after.response.status, 200);
    await after.response.body?.cancel();
  });
});

Deno.test("the daily quota: tokensPerDay across requests, then 429 with the -tokens-day headers and an hours-long reset", async () => {
  await using redis = await startRedis();
  await using worker = await startWorker(FAST_WORKER);
  const perDay = 100;
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `mock=${worker.url}`,
    GATEWAY_DEFAULT_UPSTREAM: "mock",
    GATEWAY_API_KEYS_FILE: await keysFile(`keys:\n  - { name: daily, key: ${DAILY_KEY}, tokensPerDay: ${perDay} }\n`),
    REDIS_URL: redis.url,
  });
  const { body, reserves } = chatBody();
  let admitted = 0;
  let refusal: Response | undefined;
  for (let i = 0; i < 20 && refusal === undefined; i++) {
    const response = await post(gateway.url, { key: DAILY_KEY, body });
    assert.equal(response.headers.get("x-ratelimit-limit-tokens-day"), String(perDay));
    assert.equal(response.headers.get("x-ratelimit-limit-tokens"), null, "no tokens-per-minute budget, no such header");
    if (response.status === 429) refusal = response;
    else {
      assert.equal(response.status, 200);
      await response.body?.cancel();
      admitted++;
    }
  }
  assert.ok(refusal, "the quota ran out");
  const processed = await workerTokens(worker.url);
  assert.equal(processed, admitted * ACTUAL_TOKENS);
  assert.ok(processed <= perDay && processed > perDay - reserves, `${processed} tokens of a ${perDay} quota`);
  const body429 = await refusal.json();
  assert.equal(body429.error.code, "rate_limit_exceeded");
  assert.match(body429.error.message, /100 tokens per day/);
  assert.equal(refusal.headers.get("x-ratelimit-remaining-tokens-day"), String(perDay - processed));
  assert.match(refusal.headers.get("x-ratelimit-reset-tokens-day")!, /^\d+h\d+m[\d.]+s$/);
  // A daily token comes back every 86400 s / 100 = 864 s: Retry-After is when the missing ones are back.
  const waitSeconds = (reserves - (perDay - processed)) * 864;
  const retryAfter = Number(refusal.headers.get("retry-after"));
  assert.ok(retryAfter <= waitSeconds && retryAfter >= waitSeconds - 1, `Retry-After ${retryAfter}, ${waitSeconds} s`);

  // Larger than the whole quota: refused at once, and OpenAI's client does not retry it (x-should-retry: false).
  const client = new OpenAI({ apiKey: DAILY_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 2 });
  const before = await scrape(gateway.metricsUrl, "nexus_rate_limited_total", { key: "daily" });
  await assert.rejects(
    client.chat.completions.create({
      model: "mock-worker",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 500,
    }),
    (error: unknown) => {
      assert.ok(error instanceof OpenAI.RateLimitError);
      assert.equal(error.code, "request_exceeds_token_budget");
      assert.match(error.message, /Request too large for this key's 100 tokens per day/);
      return true;
    },
  );
  assert.equal(await scrape(gateway.metricsUrl, "nexus_rate_limited_total", { key: "daily" }) - before, 1, "once");
});
