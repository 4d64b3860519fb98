import assert from "node:assert/strict";
import fc from "fast-check";
import { Redis } from "ioredis";
import { eventually } from "../tests/support/eventually.ts";
import { startRedis } from "../tests/support/process.ts";
import { scriptCalls } from "../tests/support/redis_stats.ts";
import { RequestsBucketModel } from "../tests/support/requests_bucket_model.ts";
import { type LimitedKey, MemoryRateLimiter, type Windows } from "./rate_limit.ts";
import type { LeaseCall, LeaseReply } from "./rate_limit_lease.ts";
import { RedisRateLimiter } from "./rate_limit_redis.ts";

const quiet = { sanitizeOps: false, sanitizeResources: false };
/** Windows so long that the time a test takes refills nothing measurable: decisions depend on the calls alone. */
const FROZEN: Windows = { windowMs: 1e9, dayMs: 2e9 };

function limiter(url: string, options: Windows & { prefix?: string; leaseMs?: number } = {}): RedisRateLimiter {
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

/** A leasing limiter (leases that outlive the test), closed when its `using` block ends. */
function leasing(
  url: string,
  options: Windows & { prefix?: string; leaseMs?: number } = {},
): RedisRateLimiter & AsyncDisposable {
  return disposable(limiter(url, { leaseMs: 60_000, ...options }));
}

/** `l`, closed when its `using` block ends. */
function disposable(l: RedisRateLimiter): RedisRateLimiter & AsyncDisposable {
  return Object.assign(l, { [Symbol.asyncDispose]: () => l.close() });
}

/** A plain Redis client, for reading what the limiter wrote; disconnected when its `using` block ends. */
function adminOf(url: string): Redis & AsyncDisposable {
  const admin = new Redis(url);
  return Object.assign(admin, { [Symbol.asyncDispose]: () => Promise.resolve(admin.disconnect()) });
}

/** Admits `count` requests of `k` through `l`, `batch` at a time; returns how many were admitted. */
async function admitMany(l: RedisRateLimiter, k: LimitedKey, ctx: { count: number; batch: number }): Promise<number> {
  let admitted = 0;
  for (let sent = 0; sent < ctx.count; sent += ctx.batch) {
    const batch = Math.min(ctx.batch, ctx.count - sent);
    const decisions = await Promise.all(Array.from({ length: batch }, () => l.admit(k, 0)));
    admitted += decisions.filter((d) => d.allowed).length;
  }
  return admitted;
}

Deno.test({
  name: "the lease script applies the reference model step for step (take, carry, give back, refuse, settle unknown)",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    await using shared = disposable(limiter(redis.url, FROZEN));
    assert.ok(await shared.waitReady(10_000));
    const call = fc.record({
      need: fc.integer({ min: 0, max: 1 }),
      extra: fc.integer({ min: 0, max: 20 }),
      settle: fc.oneof(fc.nat(), fc.constant(-1), fc.constant(-2)), // a live lease, none, or one never recorded
      giveBack: fc.integer({ min: 0, max: 25 }),
      carry: fc.integer({ min: 0, max: 25 }),
      recordNew: fc.boolean(),
    });
    let run = 0;
    let carried = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }),
        fc.array(call, { minLength: 1, maxLength: 20 }),
        async (limit, list) => {
          const k = key({ rpm: limit }, `lease-run${run++}`);
          const model = new RequestsBucketModel(limit, FROZEN.windowMs!);
          for (const [n, c] of list.entries()) {
            const live = [...model.leases.keys()];
            const settle = c.settle === -1
              ? ""
              : c.settle === -2 || live.length === 0
              ? "never-recorded"
              : live[c.settle % live.length];
            const lease: LeaseCall = {
              need: c.need,
              want: c.need + c.extra,
              settle,
              giveBack: c.giveBack,
              carry: c.carry,
              lease: c.recordNew ? `lease${n}` : "",
              recordMs: 1e9,
            };
            const expected = model.call(0, lease);
            const got = await shared.lease(k, lease);
            const view = (r: LeaseReply) => [r.allowed, r.granted, r.carried, r.recorded, r.requests.remaining];
            assert.deepEqual(view(got), view(expected), `${JSON.stringify(lease)} in ${JSON.stringify(list)}`);
            if (got.carried > 0) carried++;
          }
        },
      ),
      { numRuns: 40 },
    );
    assert.ok(carried > 0, "some calls carried a lease's units into the next");
  },
});

Deno.test({
  name: "two leasing limiters on one Redis admit at most the budget between them, and once closed the rest is whole",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const prefix = `p${crypto.randomUUID()}:`;
    await using a = leasing(redis.url, { prefix, ...FROZEN });
    await using b = leasing(redis.url, { prefix, ...FROZEN });
    await using c = disposable(limiter(redis.url, { prefix, ...FROZEN })); // no leases: one call per request
    assert.ok(await a.waitReady(10_000) && await b.waitReady(10_000) && await c.waitReady(10_000));
    const k = key({ rpm: 400 });
    // First both together ask for less than the budget, then for more: never more than 400 admitted.
    const [firstA, firstB] = await Promise.all([
      admitMany(a, k, { count: 100, batch: 10 }),
      admitMany(b, k, { count: 100, batch: 10 }),
    ]);
    assert.equal(firstA + firstB, 200);
    assert.ok(a.held(k.name) + b.held(k.name) > 0, "they hold leased units they have not spent");
    const [thenA, thenB] = await Promise.all([
      admitMany(a, k, { count: 150, batch: 25 }),
      admitMany(b, k, { count: 40, batch: 20 }),
    ]);
    const [byA, byB] = [firstA + thenA, firstB + thenB];
    assert.ok(byA + byB <= 400, `${byA} + ${byB} admitted of 400`);
    await a.close();
    await b.close(); // both give back what they hold
    const byC = await admitMany(c, k, { count: 500, batch: 50 });
    assert.equal(byA + byB + byC, 400, `${byA} + ${byB} + ${byC}: exactly the budget, what was held came back`);
  },
});

Deno.test({
  name:
    "lease boundary: with the budget nearly spent each request is one Redis call, and exactly the budget is admitted",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    await using l = leasing(redis.url, FROZEN);
    await using admin = adminOf(redis.url);
    assert.ok(await l.waitReady(10_000));
    const k = key({ rpm: 64 });
    await admin.config("RESETSTAT");
    const trace: Array<{ allowed: boolean; calls: number }> = [];
    for (let i = 0; i < 80; i++) {
      const before = await scriptCalls(admin);
      const decision = await l.admit(k, 0);
      trace.push({ allowed: decision.allowed, calls: await scriptCalls(admin) - before });
    }
    const admitted = trace.filter((t) => t.allowed);
    assert.equal(admitted.length, 64, "the whole budget, none over");
    assert.ok(trace.slice(64).every((t) => !t.allowed && t.calls === 1), "each refusal is one call");
    assert.ok(
      admitted.slice(-10).every((t) => t.calls === 1),
      `the last ones call one by one: ${JSON.stringify(trace)}`,
    );
    assert.ok(trace.slice(0, 40).filter((t) => t.calls > 0).length < 20, "while much was left, most came from leases");
  },
});

Deno.test({
  name:
    "a lease one replica does not spend goes back when it expires idle, and on close; the other replica then gets it",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const prefix = `p${crypto.randomUUID()}:`;
    await using a = leasing(redis.url, { prefix, ...FROZEN, leaseMs: 300 });
    await using b = disposable(limiter(redis.url, { prefix, ...FROZEN }));
    await using admin = adminOf(redis.url);
    assert.ok(await a.waitReady(10_000) && await b.waitReady(10_000));
    for (const name of ["idle", "closed"]) {
      const k = key({ rpm: 400 }, name);
      await admitMany(a, k, { count: 3, batch: 3 });
      const held = a.held(name);
      assert.ok(held > 0, `${name}: a holds a lease`);
      assert.equal((await b.admit(k, 0)).requests!.remaining, 400 - 3 - held - 1, "b does not see a's leased units");
      if (name === "closed") await a.close();
      else await eventually(async () => await admin.exists(`${prefix}{idle}:rpm:leases`) === 0, { what: "the return" });
      assert.equal(a.held(name), 0);
      assert.equal((await b.admit(k, 0)).requests!.remaining, 400 - 3 - 2, `${name}: a's unspent units are back`);
    }
  },
});

Deno.test({
  name: "a lease whose replica died is counted spent when Redis expires it, and never given to anyone twice",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    const prefix = `p${crypto.randomUUID()}:`;
    await using dead = disposable(limiter(redis.url, { prefix, ...FROZEN }));
    await using b = disposable(limiter(redis.url, { prefix, ...FROZEN }));
    await using admin = adminOf(redis.url);
    assert.ok(await dead.waitReady(10_000) && await b.waitReady(10_000));
    const k = key({ rpm: 100 });
    const taken = { need: 0, want: 10, settle: "", giveBack: 0, carry: 0, lease: "x", recordMs: 300 };
    assert.equal((await dead.lease(k, taken)).recorded, 10);
    await dead.close(); // it never settles the lease
    const leases = `${prefix}{k}:rpm:leases`;
    const refillOfTen = 10 * FROZEN.windowMs! / 100;
    assert.ok(await admin.pttl(leases) > 300 + refillOfTen - 1000, "kept until its units would have refilled");
    assert.equal((await b.admit(k, 0)).requests!.remaining, 89);
    const look = { need: 0, want: 0, settle: "", giveBack: 0, carry: 0, lease: "", recordMs: 0 };
    await eventually(async () => (await b.lease(k, look), await admin.zcard(leases) === 0), { what: "the expiry" });
    assert.equal((await b.admit(k, 0)).requests!.remaining, 88, "its 10 units count as spent, not returned");
    const late = await b.lease(k, { ...look, settle: "x", giveBack: 10 });
    assert.equal(late.requests.remaining, 88, "a return after the expiry gives nothing back");
  },
});

Deno.test({
  name: "with leases a key's requests cost a few Redis round trips per thousand, not one each",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    await using l = leasing(redis.url);
    await using perRequest = disposable(limiter(redis.url));
    await using admin = adminOf(redis.url);
    assert.ok(await l.waitReady(10_000) && await perRequest.waitReady(10_000));
    await admin.config("RESETSTAT");
    assert.equal(await admitMany(perRequest, key({ rpm: 1_000_000 }, "without"), { count: 1000, batch: 50 }), 1000);
    assert.equal(await scriptCalls(admin), 1000, "without leases: one call per request");
    await admin.config("RESETSTAT");
    assert.equal(await admitMany(l, key({ rpm: 1_000_000 }, "with"), { count: 1000, batch: 50 }), 1000);
    const calls = await scriptCalls(admin);
    assert.ok(calls <= 10, `${calls} calls for 1000 requests`);
  },
});

Deno.test({
  name: "with Redis down a held lease is still spent; past it the limiter fails at once",
  ...quiet,
  fn: async () => {
    await using redis = await startRedis();
    await using l = disposable(new RedisRateLimiter(redis.url, { timeoutMs: 200, onError: () => {}, leaseMs: 60_000 }));
    assert.ok(await l.waitReady(10_000));
    const k = key({ rpm: 10_000 });
    await admitMany(l, k, { count: 10, batch: 10 });
    const held = l.held(k.name);
    assert.ok(held > 0);
    await redis.kill();
    let served = 0;
    for (let i = 0; i < held; i++) {
      const decision = l.admit(k, 0);
      if (!(decision instanceof Promise) && decision.allowed) served++;
    }
    assert.equal(served, held, "served from the lease, without Redis");
    await assert.rejects(Promise.resolve(l.admit(k, 0)));
  },
});
