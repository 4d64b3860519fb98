import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { startRedis } from "../tests/support/process.ts";
import { RedisRateLimiter } from "./rate_limit_redis.ts";

const quiet = { sanitizeOps: false, sanitizeResources: false };

function limiter(url: string, windowMs = 60_000): RedisRateLimiter {
  return new RedisRateLimiter(url, { timeoutMs: 200, onError: () => {}, windowMs, prefix: `t${crypto.randomUUID()}:` });
}

Deno.test({
  name: "two limiters on one Redis admit exactly the budget between them, even when called concurrently",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const prefix = `p${crypto.randomUUID()}:`;
    const a = new RedisRateLimiter(redis.url, { timeoutMs: 500, onError: () => {}, prefix });
    const b = new RedisRateLimiter(redis.url, { timeoutMs: 500, onError: () => {}, prefix });
    try {
      assert.ok(await a.waitReady(10_000) && await b.waitReady(10_000));
      const decisions = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).check("key", 7)));
      assert.equal(decisions.filter((d) => d.allowed).length, 7);
      const remaining = decisions.filter((d) => d.allowed).map((d) => d.remaining).sort();
      assert.deepEqual(remaining, [0, 1, 2, 3, 4, 5, 6]);
      const refused = decisions.find((d) => !d.allowed)!;
      assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= Math.ceil(60_000 / 7)); // whole ms, rounded up
      assert.ok(refused.resetMs > 50_000 && refused.resetMs <= 60_000);
      assert.equal((await a.check("other-key", 7)).allowed, true, "buckets are per key");
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name: "the Redis limiter admits again once the bucket refills (one request per window/limit)",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const l = limiter(redis.url, 300);
    try {
      assert.ok(await l.waitReady(10_000));
      assert.equal((await l.check("k", 2)).allowed, true);
      assert.equal((await l.check("k", 2)).allowed, true);
      assert.equal((await l.check("k", 2)).allowed, false);
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal((await l.check("k", 2)).allowed, true);
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
      assert.equal((await l.check("k", 5)).remaining, 4);
      await admin.script("FLUSH");
      assert.equal((await l.check("k", 5)).remaining, 3);
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
    try {
      assert.ok(await l.waitReady(10_000));
      assert.equal((await l.check("k", 5)).allowed, true);
      await redis.kill();
      await assert.rejects(Promise.resolve(l.check("k", 5)));
      for (let i = 0; i < 100 && l.usable(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(l.usable(), false, "reports itself unusable while disconnected");
      await using again = await startRedis({ port: redis.port });
      assert.ok(await l.waitReady(20_000), "reconnects by itself");
      assert.equal((await l.check("k", 5)).allowed, true);
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
      for (let i = 0; i < 50; i++) assert.equal((await l.check("huge", 1_000_000_000)).allowed, true);
      assert.equal((await l.check("one", 1)).allowed, true);
      const refused = await l.check("one", 1);
      assert.equal(refused.allowed, false);
      assert.ok(refused.retryAfterMs > 59_000 && refused.retryAfterMs <= 60_000);
    } finally {
      await l.close();
    }
  },
});
