import assert from "node:assert/strict";
import fc from "fast-check";
import { Redis } from "ioredis";
import { startRedis } from "../tests/support/process.ts";
import { type LimitedKey, MemoryRateLimiter, type Windows } from "./rate_limit.ts";
import { RedisRateLimiter } from "./rate_limit_redis.ts";

const quiet = { sanitizeOps: false, sanitizeResources: false };
/** Windows so long that the time a test takes refills nothing measurable: decisions depend on the calls alone. */
const FROZEN: Windows = { windowMs: 1e9, dayMs: 2e9 };

function limiter(url: string, options: Windows & { prefix?: string } = {}): RedisRateLimiter {
  return new RedisRateLimiter(url, {
    timeoutMs: 500,
    onError: () => {},
    prefix: `t${crypto.randomUUID()}:`,
    ...options,
  });
}

function key(budgets: Partial<Omit<LimitedKey, "name">>, name = "k"): LimitedKey {
  return { name, rpm: 0, tpm: 0, tokensPerDay: 0, ...budgets };
}

Deno.test({
  name: "two limiters on one Redis admit exactly the budget between them, even when called concurrently",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const prefix = `p${crypto.randomUUID()}:`;
    const a = limiter(redis.url, { prefix });
    const b = limiter(redis.url, { prefix });
    try {
      assert.ok(await a.waitReady(10_000) && await b.waitReady(10_000));
      const k = key({ rpm: 7 });
      const decisions = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).admit(k, 0)));
      const admitted = decisions.filter((d) => d.allowed);
      assert.equal(admitted.length, 7);
      assert.deepEqual(admitted.map((d) => d.requests!.remaining).sort(), [0, 1, 2, 3, 4, 5, 6]);
      const refused = decisions.find((d) => !d.allowed)!.requests!;
      assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= Math.ceil(60_000 / 7)); // whole ms, rounded up
      assert.ok(refused.resetMs > 50_000 && refused.resetMs <= 60_000);
      assert.equal((await a.admit(key({ rpm: 7 }, "other-key"), 0)).allowed, true, "buckets are per key");
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name: "two limiters on one Redis admit token reservations up to the budget between them, never past it",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const prefix = `p${crypto.randomUUID()}:`;
    const a = limiter(redis.url, { prefix, ...FROZEN });
    const b = limiter(redis.url, { prefix, ...FROZEN });
    try {
      assert.ok(await a.waitReady(10_000) && await b.waitReady(10_000));
      const k = key({ rpm: 1000, tpm: 100 });
      const decisions = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).admit(k, 30)));
      const admitted = decisions.filter((d) => d.allowed);
      assert.equal(admitted.length, 3, "3 x 30 fit in 100, a 4th does not");
      assert.deepEqual(admitted.map((d) => d.tokens!.remaining).sort(), [10, 40, 70]);
      const refused = decisions.find((d) => !d.allowed)!;
      assert.equal(refused.tokens!.remaining, 10);
      assert.equal(refused.requests!.remaining, 997, "a refused request took no request either");
      assert.equal((await b.admit(k, 10)).tokens!.remaining, 0, "what is left is still there, to the last token");
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name: "the Redis script applies the in-memory limiter's rule step for step (admit, refuse, give back, owe)",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const shared = limiter(redis.url, FROZEN);
    try {
      assert.ok(await shared.waitReady(10_000));
      type Step = { admit: number } | { adjust: number };
      const steps = fc.array(
        fc.oneof(
          fc.record({ admit: fc.integer({ min: 0, max: 120 }) }),
          fc.record({ adjust: fc.integer({ min: -150, max: 60 }) }),
        ),
        { minLength: 1, maxLength: 25 },
      );
      let run = 0;
      await fc.assert(
        fc.asyncProperty(steps, async (list: Step[]) => {
          const k = key({ rpm: 12, tpm: 200, tokensPerDay: 300 }, `run${run++}`);
          const memory = new MemoryRateLimiter({ now: () => 1, ...FROZEN });
          for (const step of list) {
            if ("adjust" in step) {
              memory.adjust(k, step.adjust);
              await shared.adjust(k, step.adjust);
              continue;
            }
            const expected = memory.admit(k, step.admit);
            const got = await shared.admit(k, step.admit);
            const view = (d: typeof got) =>
              [d.allowed, d.requests, d.tokens, d.tokensPerDay].map((s) =>
                typeof s === "object" ? [s.allowed, s.remaining] : s
              );
            assert.deepEqual(view(got), view(expected), JSON.stringify(list));
          }
        }),
        { numRuns: 40 },
      );
    } finally {
      await shared.close();
    }
  },
});

Deno.test({
  name: "a key's buckets are three clear Redis keys under one hash tag, and a full bucket has none",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const l = limiter(redis.url, { prefix: "nexus:rl:" });
    const admin = new Redis(redis.url);
    try {
      assert.ok(await l.waitReady(10_000));
      await l.admit(key({ rpm: 5 }, "rpm-only"), 0);
      assert.deepEqual(await admin.keys("*"), ["nexus:rl:{rpm-only}:rpm"], "no token work for a key without a budget");
      await l.admit(key({ rpm: 5, tpm: 100, tokensPerDay: 1000 }, "team-a"), 40);
      assert.deepEqual((await admin.keys("nexus:rl:{team-a}:*")).sort(), [
        "nexus:rl:{team-a}:rpm",
        "nexus:rl:{team-a}:tpd",
        "nexus:rl:{team-a}:tpm",
      ]);
      const ttl = await admin.pttl("nexus:rl:{team-a}:tpd");
      assert.ok(ttl > 0 && ttl <= 86_400_000 * 40 / 1000, `expires once refilled (${ttl} ms)`);
      await l.adjust(key({ rpm: 5, tpm: 100, tokensPerDay: 1000 }, "team-a"), -40);
      assert.deepEqual(await admin.keys("nexus:rl:{team-a}:t*"), [], "given back in full: both token buckets full");
    } finally {
      admin.disconnect();
      await l.close();
    }
  },
});

Deno.test({
  name: "the Redis limiter admits again once the bucket refills (one request per window/limit)",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const l = limiter(redis.url, { windowMs: 300 });
    try {
      assert.ok(await l.waitReady(10_000));
      const k = key({ rpm: 2 });
      assert.equal((await l.admit(k, 0)).allowed, true);
      assert.equal((await l.admit(k, 0)).allowed, true);
      assert.equal((await l.admit(k, 0)).allowed, false);
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal((await l.admit(k, 0)).allowed, true);
    } finally {
      await l.close();
    }
  },
});

Deno.test({
  name: "the limiter script is reloaded when Redis forgot it (EVALSHA falls back to EVAL)",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const l = limiter(redis.url);
    const admin = new Redis(redis.url);
    try {
      assert.ok(await l.waitReady(10_000));
      const k = key({ rpm: 5 });
      assert.equal((await l.admit(k, 0)).requests!.remaining, 4);
      await admin.script("FLUSH");
      assert.equal((await l.admit(k, 0)).requests!.remaining, 3);
    } finally {
      admin.disconnect();
      await l.close();
    }
  },
});

Deno.test({
  name: "with Redis down the limiter fails at once instead of queueing, and recovers when Redis is back",
  ...quiet,
  fn: async () => {
    const redis = await startRedis();
    const errors: Error[] = [];
    const l = new RedisRateLimiter(redis.url, { timeoutMs: 200, onError: (e) => errors.push(e) });
    const k = key({ rpm: 5, tpm: 100 });
    try {
      assert.ok(await l.waitReady(10_000));
      assert.equal((await l.admit(k, 10)).allowed, true);
      await redis.kill();
      await assert.rejects(Promise.resolve(l.admit(k, 10)));
      await assert.rejects(Promise.resolve(l.adjust(k, -10)));
      for (let i = 0; i < 100 && l.usable(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(l.usable(), false, "reports itself unusable while disconnected");
      await using again = await startRedis({ port: redis.port });
      assert.ok(await l.waitReady(20_000), "reconnects by itself");
      assert.equal((await l.admit(k, 10)).allowed, true);
      assert.equal(again.port, redis.port);
    } finally {
      await l.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name: "very large and very small limits work in Redis (no invalid expiry, no lost precision)",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const l = limiter(redis.url);
    try {
      assert.ok(await l.waitReady(10_000));
      for (let i = 0; i < 50; i++) assert.equal((await l.admit(key({ rpm: 1_000_000_000 }, "huge"), 0)).allowed, true);
      assert.equal((await l.admit(key({ rpm: 1 }, "one"), 0)).allowed, true);
      const refused = (await l.admit(key({ rpm: 1 }, "one"), 0)).requests!;
      assert.equal(refused.allowed, false);
      assert.ok(refused.retryAfterMs > 59_000 && refused.retryAfterMs <= 60_000);
      const whole = await l.admit(key({ tpm: 123_457 }, "exact"), 123_457);
      assert.equal(whole.allowed, true, "a reservation of exactly the whole budget fits a full bucket");
      assert.equal(whole.tokens!.remaining, 0);
    } finally {
      await l.close();
    }
  },
});
