/** Per-key rate limits: in memory, shared across gateway replicas through Redis, and with Redis going away. */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { assertOpenAI } from "./support/openai_schema.ts";
import { mockGatewayEnv, startGateway, startRedis, startWorker } from "./support/process.ts";
import { eventually } from "./support/eventually.ts";
import { scrape } from "./support/prometheus.ts";
import { scriptCalls } from "./support/redis_stats.ts";

const KEY = "sk-test-limits-24680";
const FAST_WORKER = { WORKER_TOKEN_DELAY_MS: "0", WORKER_TTFT_MS: "0", WORKER_MAX_TOKENS: "2" };

function ask(gatewayUrl: string, key = KEY, init: { signal?: AbortSignal } = {}): Promise<Response> {
  return fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: "POST",
    signal: init.signal,
    headers: { "x-api-key": key },
    body: JSON.stringify({ model: "mock-worker", messages: [{ role: "user", content: "hi" }] }),
  });
}

async function statusOf(gatewayUrl: string): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await ask(gatewayUrl);
  return { status: response.status, headers: response.headers, body: await response.json() };
}

Deno.test("the in-memory limiter admits the per-key budget, then answers 429 with Retry-After and x-ratelimit-*", async () => {
  await using worker = await startWorker(FAST_WORKER);
  await using gateway = await startGateway(
    mockGatewayEnv(worker.url, `${KEY},sk-second-key`, { GATEWAY_RATE_LIMIT_RPM: "3" }),
  );
  for (const remaining of ["2", "1", "0"]) {
    const answer = await statusOf(gateway.url);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("x-ratelimit-limit-requests"), "3");
    assert.equal(answer.headers.get("x-ratelimit-remaining-requests"), remaining);
    assert.match(answer.headers.get("x-ratelimit-reset-requests") ?? "", /^[\d.m]+s$/);
  }
  const refused = await statusOf(gateway.url);
  assert.equal(refused.status, 429);
  assertOpenAI("ErrorResponse", refused.body);
  assert.equal((refused.body as { error: { code: string } }).error.code, "rate_limit_exceeded");
  assert.ok(Number(refused.headers.get("retry-after")) >= 1);
  assert.equal(refused.headers.get("x-ratelimit-remaining-requests"), "0");
  assert.equal(refused.headers.get("x-ratelimit-limit-requests"), "3");
  const other = await ask(gateway.url, "sk-second-key");
  await other.body?.cancel();
  assert.equal(other.status, 200, "each key has its own budget");
  assert.equal(await scrape(gateway.metricsUrl, "nexus_rate_limited_total", { key: "key1" }), 1);
});

Deno.test("two gateway processes sharing one Redis admit exactly the budget between them", async () => {
  await using redis = await startRedis();
  await using worker = await startWorker(FAST_WORKER);
  const env = mockGatewayEnv(worker.url, KEY, { GATEWAY_RATE_LIMIT_RPM: "5", REDIS_URL: redis.url });
  await using a = await startGateway(env);
  await using b = await startGateway(env);
  const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => statusOf(i % 2 ? a.url : b.url)));
  const statuses = answers.map((x) => x.status);
  assert.equal(statuses.filter((s) => s === 200).length, 5, String(statuses));
  assert.equal(statuses.filter((s) => s === 429).length, 11, String(statuses));
  // Redis answered every one, the first ones too: a gateway listens only once its limiter is connected.
  for (const answer of answers) assert.ok(answer.headers.has("x-ratelimit-remaining-requests"));
});

/** Sends requests until one carries x-ratelimit headers again (the limiter answers once more). */
async function untilLimiterAnswers(gatewayUrl: string): Promise<{ status: number; headers: Headers }> {
  for (let i = 0; i < 400; i++) {
    const answer = await statusOf(gatewayUrl);
    if (answer.headers.has("x-ratelimit-remaining-requests")) return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the limiter never answered again after Redis came back");
}

async function waitReady(gatewayUrl: string): Promise<void> {
  await eventually(async () => {
    const response = await fetch(`${gatewayUrl}/ready`);
    await response.body?.cancel();
    return response.status === 200;
  }, { what: `${gatewayUrl} ready again` });
}

Deno.test("when Redis dies, fail-open keeps serving and counts errors, fail-closed answers 503; both recover", async (t) => {
  const redis = await startRedis();
  try {
    await using worker = await startWorker(FAST_WORKER);
    const env = mockGatewayEnv(worker.url, KEY, {
      GATEWAY_RATE_LIMIT_RPM: "3",
      REDIS_URL: redis.url,
      GATEWAY_REDIS_TIMEOUT_MS: "200",
    });
    await using open = await startGateway(env);
    await using closed = await startGateway({ ...env, GATEWAY_RATE_LIMIT_FAIL: "closed" });
    await untilLimiterAnswers(closed.url); // both are connected
    await untilLimiterAnswers(open.url);

    await redis.kill();

    await t.step("the lost connection is counted and logged before any request comes", async () => {
      await eventually(async () => await scrape(open.metricsUrl, "nexus_redis_errors_total") >= 1, {
        what: "nexus_redis_errors_total counting the lost connection",
      });
      await open.child.waitForLine(/redis rate limiter failed/);
    });

    await t.step("fail open: requests are served while Redis is down, errors are counted and logged", async () => {
      for (let i = 0; i < 5; i++) assert.equal((await statusOf(open.url)).status, 200);
      assert.ok(await scrape(open.metricsUrl, "nexus_redis_errors_total") >= 1);
      assert.equal((await fetch(`${open.url}/ready`)).status, 200);
      await open.child.waitForLine(/redis rate limiter failed/);
    });

    await t.step("fail closed: requests get 503 while Redis is down and /ready fails", async () => {
      const answer = await statusOf(closed.url);
      assert.equal(answer.status, 503);
      assertOpenAI("ErrorResponse", answer.body);
      assert.equal((answer.body as { error: { code: string } }).error.code, "rate_limiter_unavailable");
      assert.equal((await fetch(`${closed.url}/ready`)).status, 503);
    });

    await t.step("Redis back on the same port: limiting works again without a restart", async () => {
      await using _again = await startRedis({ port: redis.port });
      const first = await untilLimiterAnswers(open.url);
      assert.equal(first.status, 200);
      assert.equal(first.headers.get("x-ratelimit-remaining-requests"), "2");
      assert.equal((await statusOf(open.url)).status, 200);
      assert.equal((await statusOf(open.url)).status, 200);
      assert.equal((await statusOf(open.url)).status, 429);
      await waitReady(closed.url);
      assert.equal((await statusOf(closed.url)).status, 429, "closed shares the same budget, now used up");
    });
  } finally {
    await redis.stop();
  }
});

Deno.test("a Redis that stops answering (SIGSTOP) costs a request at most GATEWAY_REDIS_TIMEOUT_MS, never a stall", async () => {
  await using redis = await startRedis();
  await using worker = await startWorker(FAST_WORKER);
  await using gateway = await startGateway(
    mockGatewayEnv(worker.url, KEY, {
      GATEWAY_RATE_LIMIT_RPM: "100",
      REDIS_URL: redis.url,
      GATEWAY_REDIS_TIMEOUT_MS: "200",
    }),
  );
  await untilLimiterAnswers(gateway.url);
  redis.child.kill("SIGSTOP"); // the connection stays open, but nothing answers
  try {
    for (let i = 0; i < 3; i++) {
      // The bound only turns a stall into a failure; the limiter's own timeout is far shorter.
      const response = await ask(gateway.url, KEY, { signal: AbortSignal.timeout(20_000) });
      await response.body?.cancel();
      assert.equal(response.status, 200, "fail open: served without a limiter answer");
      assert.equal(response.headers.get("x-ratelimit-remaining-requests"), null);
    }
    assert.ok(await scrape(gateway.metricsUrl, "nexus_redis_errors_total") >= 3);
  } finally {
    redis.child.kill("SIGCONT");
  }
});

/** Sends `count` requests to `gatewayUrl`, `batch` at a time; returns the statuses. */
async function burst(gatewayUrl: string, ctx: { count: number; batch: number }): Promise<number[]> {
  const statuses: number[] = [];
  for (let sent = 0; sent < ctx.count; sent += ctx.batch) {
    const answers = await Promise.all(Array.from({ length: Math.min(ctx.batch, ctx.count - sent) }, async () => {
      const response = await ask(gatewayUrl);
      await response.body?.cancel();
      return response.status;
    }));
    statuses.push(...answers);
  }
  return statuses;
}

Deno.test("with leases, two gateway processes admit exactly the budget between them, and a drained one gives its lease back", async () => {
  await using redis = await startRedis();
  await using worker = await startWorker(FAST_WORKER);
  const rpm = 120;
  const env = mockGatewayEnv(worker.url, KEY, {
    GATEWAY_RATE_LIMIT_RPM: String(rpm),
    GATEWAY_RATE_LIMIT_LEASE_MS: "60000", // no lease expires during the test: only a return brings units back
    REDIS_URL: redis.url,
  });
  const admin = new Redis(redis.url);
  try {
    await using a = await startGateway(env);
    await using b = await startGateway(env);
    const startedAt = performance.now();
    const first = await burst(a.url, { count: 30, batch: 6 });
    assert.deepEqual([...new Set(first)], [200]);
    assert.equal(await admin.zcard("nexus:rl:{key1}:rpm:leases"), 1, "a holds a lease of the key's budget");

    const stopped = await a.stop(); // SIGTERM: drain, then return the lease
    assert.equal(stopped.code, 0);
    assert.equal(await admin.zcard("nexus:rl:{key1}:rpm:leases"), 0, "a gave its unspent units back");

    let admitted = first.length;
    for (let wave = 0; wave < 40; wave++) {
      const statuses = await burst(b.url, { count: 6, batch: 6 });
      admitted += statuses.filter((s) => s === 200).length;
      if (statuses.every((s) => s === 429)) break;
    }
    const refilled = Math.floor(rpm * (performance.now() - startedAt) / 60_000);
    assert.ok(admitted >= rpm, `${admitted} admitted: the whole budget, a's unspent lease included`);
    assert.ok(admitted <= rpm + refilled, `${admitted} admitted; the budget allows ${rpm} + ${refilled} refilled`);
  } finally {
    admin.disconnect();
  }
});

Deno.test("with leases a gateway asks Redis a few times per hundred requests; without, once per request", async () => {
  await using redis = await startRedis();
  await using worker = await startWorker(FAST_WORKER);
  const admin = new Redis(redis.url);
  try {
    for (const [leaseMs, most] of [["0", 200], ["1000", 20]] as const) {
      await using gateway = await startGateway(
        mockGatewayEnv(worker.url, KEY, {
          GATEWAY_RATE_LIMIT_RPM: "1000000",
          GATEWAY_RATE_LIMIT_LEASE_MS: leaseMs,
          REDIS_URL: redis.url,
        }),
      );
      await admin.config("RESETSTAT");
      assert.deepEqual([...new Set(await burst(gateway.url, { count: 200, batch: 10 }))], [200]);
      const calls = await scriptCalls(admin);
      assert.ok(calls <= most, `GATEWAY_RATE_LIMIT_LEASE_MS=${leaseMs}: ${calls} Redis calls for 200 requests`);
      if (leaseMs === "0") assert.equal(calls, 200);
    }
  } finally {
    admin.disconnect();
  }
});
