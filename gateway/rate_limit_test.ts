import assert from "node:assert/strict";
import fc from "fast-check";
import { formatDuration, MemoryRateLimiter, rateLimitHeaders } from "./rate_limit.ts";

Deno.test("the in-memory limiter admits exactly the budget in a window, then refuses with the wait", () => {
  let now = 1000;
  const limiter = new MemoryRateLimiter({ now: () => now, windowMs: 60_000 });
  for (let i = 0; i < 5; i++) {
    const d = limiter.check("k", 5);
    assert.equal(d.allowed, true);
    assert.equal(d.remaining, 4 - i);
    now += 1000;
  }
  const refused = limiter.check("k", 5);
  assert.equal(refused.allowed, false);
  assert.equal(refused.remaining, 0);
  assert.equal(refused.resetMs, 55_000); // the first request leaves the window at 61000
  assert.equal(limiter.check("other", 5).allowed, true, "buckets are independent");
  now = 61_000;
  const again = limiter.check("k", 5);
  assert.equal(again.allowed, true, "the oldest request left the window");
  assert.equal(again.remaining, 0);
  assert.equal(limiter.check("k", 5).allowed, false);
});

Deno.test("the in-memory limiter never admits more than the limit in any window (any arrival times)", () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 10 }),
    fc.array(fc.integer({ min: 0, max: 30_000 }), { minLength: 1, maxLength: 200 }),
    (limit, gaps) => {
      let now = 0;
      const limiter = new MemoryRateLimiter({ now: () => now, windowMs: 60_000 });
      const admitted: number[] = [];
      for (const gap of gaps) {
        now += gap;
        const d = limiter.check("k", limit);
        const inWindow = admitted.filter((t) => t > now - 60_000).length;
        assert.equal(d.allowed, inWindow < limit, `at ${now}: ${inWindow} in window, limit ${limit}`);
        if (d.allowed) {
          admitted.push(now);
          assert.equal(d.remaining, limit - inWindow - 1);
        }
      }
    },
  ));
});

Deno.test("a refusal carries Retry-After and x-ratelimit-* headers in OpenAI's format", () => {
  const headers = new Headers();
  rateLimitHeaders({ allowed: false, limit: 10, remaining: 0, resetMs: 1500 }, headers);
  assert.equal(headers.get("retry-after"), "2");
  assert.equal(headers.get("x-ratelimit-limit-requests"), "10");
  assert.equal(headers.get("x-ratelimit-remaining-requests"), "0");
  assert.equal(headers.get("x-ratelimit-reset-requests"), "1.5s");
  assert.equal(formatDuration(20), "20ms");
  assert.equal(formatDuration(60_000), "1m0s");
});
