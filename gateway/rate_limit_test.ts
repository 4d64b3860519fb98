import assert from "node:assert/strict";
import fc from "fast-check";
import { formatDuration, MemoryRateLimiter, rateLimitHeaders } from "./rate_limit.ts";

const WINDOW = 60_000;

Deno.test("the in-memory limiter admits the whole budget at once, then one request per window/limit", () => {
  let now = 1000;
  const limiter = new MemoryRateLimiter({ now: () => now, windowMs: WINDOW });
  for (let i = 0; i < 5; i++) {
    const d = limiter.check("k", 5);
    assert.equal(d.allowed, true);
    assert.equal(d.remaining, 4 - i);
  }
  const refused = limiter.check("k", 5);
  assert.equal(refused.allowed, false);
  assert.equal(refused.remaining, 0);
  assert.equal(refused.retryAfterMs, 12_000, "one request fits again after 60s/5");
  assert.equal(refused.resetMs, 60_000, "the full budget is back after a minute");
  assert.equal(limiter.check("other", 5).allowed, true, "buckets are independent");
  now += 11_999;
  assert.equal(limiter.check("k", 5).allowed, false);
  now += 1;
  const again = limiter.check("k", 5);
  assert.equal(again.allowed, true);
  assert.equal(again.remaining, 0);
  assert.equal(limiter.check("k", 5).allowed, false);
});

Deno.test("a burst from a fresh key admits exactly min(burst, limit)", () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 600 }), (limit, burst) => {
    const limiter = new MemoryRateLimiter({ now: () => 5, windowMs: WINDOW });
    let admitted = 0;
    for (let i = 0; i < burst; i++) if (limiter.check("k", limit).allowed) admitted++;
    assert.equal(admitted, Math.min(burst, limit));
  }));
});

Deno.test("over any span the limiter admits at most limit + span/(window/limit), and never refuses a paced client", () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 20 }),
    fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 300 }),
    (limit, gaps) => {
      let now = 0;
      const limiter = new MemoryRateLimiter({ now: () => now, windowMs: WINDOW });
      let admitted = 0;
      for (const gap of gaps) {
        now += gap;
        if (limiter.check("k", limit).allowed) admitted++;
      }
      assert.ok(admitted <= limit + Math.floor(now / (WINDOW / limit)), `${admitted} admitted by ${now}`);
      const paced = new MemoryRateLimiter({ now: () => now, windowMs: WINDOW });
      for (let i = 0; i < 3 * limit; i++, now += WINDOW / limit) assert.ok(paced.check("k", limit).allowed);
    },
  ));
});

Deno.test("a refusal carries Retry-After and x-ratelimit-* headers in OpenAI's format", () => {
  const headers = new Headers();
  rateLimitHeaders({ allowed: false, limit: 10, remaining: 0, resetMs: 1500, retryAfterMs: 1200 }, headers);
  assert.equal(headers.get("retry-after"), "2");
  assert.equal(headers.get("x-ratelimit-limit-requests"), "10");
  assert.equal(headers.get("x-ratelimit-remaining-requests"), "0");
  assert.equal(headers.get("x-ratelimit-reset-requests"), "1.5s");
  assert.equal(formatDuration(20), "20ms");
  assert.equal(formatDuration(60_000), "1m0s");
});

Deno.test("very large limits never refuse a moderate burst in memory", () => {
  const limiter = new MemoryRateLimiter({ now: () => 123_456.789, windowMs: WINDOW });
  for (let i = 0; i < 1000; i++) assert.equal(limiter.check("k", 1_000_000_000).allowed, true);
});
