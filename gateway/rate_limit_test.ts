import assert from "node:assert/strict";
import fc from "fast-check";
import { formatDuration, type LimitedKey, MemoryRateLimiter, rateLimitHeaders, TOLERANCE_MS } from "./rate_limit.ts";

const WINDOW = 60_000;
const DAY = 86_400_000;

function key(budgets: Partial<Omit<LimitedKey, "name">>, name = "k"): LimitedKey {
  return { name, rpm: 0, tpm: 0, tokensPerDay: 0, ...budgets };
}

Deno.test("the in-memory limiter admits the whole budget at once, then one request per window/limit", () => {
  let now = 1000;
  const limiter = new MemoryRateLimiter({ now: () => now, windowMs: WINDOW });
  const k = key({ rpm: 5 });
  for (let i = 0; i < 5; i++) {
    const d = limiter.admit(k, 0);
    assert.equal(d.allowed, true);
    assert.equal(d.requests!.remaining, 4 - i);
    assert.equal(d.tokens, undefined, "a key without a token budget has no token state");
  }
  const refused = limiter.admit(k, 0);
  assert.equal(refused.allowed, false);
  assert.equal(refused.requests!.remaining, 0);
  assert.equal(refused.requests!.retryAfterMs, 12_000, "one request fits again after 60s/5");
  assert.equal(refused.requests!.resetMs, 60_000, "the full budget is back after a minute");
  assert.equal(limiter.admit(key({ rpm: 5 }, "other"), 0).allowed, true, "buckets are independent");
  now += 11_999;
  assert.equal(limiter.admit(k, 0).allowed, false);
  now += 1;
  const again = limiter.admit(k, 0);
  assert.equal(again.allowed, true);
  assert.equal(again.requests!.remaining, 0);
  assert.equal(limiter.admit(k, 0).allowed, false);
});

Deno.test("a burst from a fresh key admits exactly min(burst, limit)", () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 600 }), (limit, burst) => {
    const limiter = new MemoryRateLimiter({ now: () => 5, windowMs: WINDOW });
    let admitted = 0;
    for (let i = 0; i < burst; i++) if (limiter.admit(key({ rpm: limit }), 0).allowed) admitted++;
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
        if (limiter.admit(key({ rpm: limit }), 0).allowed) admitted++;
      }
      assert.ok(admitted <= limit + Math.floor(now / (WINDOW / limit)), `${admitted} admitted by ${now}`);
      const paced = new MemoryRateLimiter({ now: () => now, windowMs: WINDOW });
      for (let i = 0; i < 3 * limit; i++, now += WINDOW / limit) assert.ok(paced.admit(key({ rpm: limit }), 0).allowed);
    },
  ));
});

Deno.test("a token budget admits reservations while they fit, refuses the rest taking nothing, and refills at tpm/minute", () => {
  let now = 0;
  const limiter = new MemoryRateLimiter({ now: () => now, windowMs: WINDOW });
  const k = key({ tpm: 600 }); // one token back every 100 ms
  const first = limiter.admit(k, 250);
  assert.equal(first.allowed, true);
  assert.deepEqual(first.tokens, { allowed: true, limit: 600, remaining: 350, resetMs: 25_000, retryAfterMs: 0 });
  assert.equal(first.requests, undefined, "no requests budget: no requests state");
  assert.equal(limiter.admit(k, 250).tokens!.remaining, 100);
  const refused = limiter.admit(k, 250);
  assert.equal(refused.allowed, false);
  assert.equal(refused.tokens!.remaining, 100, "a refusal takes nothing: 100 are still there");
  assert.equal(refused.tokens!.retryAfterMs, 15_000, "150 more tokens come back in 15 s");
  assert.equal(limiter.admit(k, 100).tokens!.remaining, 0, "a smaller reservation that fits is admitted");
  now += 10_000;
  assert.equal(limiter.admit(k, 101).allowed, false);
  assert.equal(limiter.admit(k, 100).allowed, true, "100 tokens came back in 10 s");
});

Deno.test("a request is admitted only when every budget of its key has room; refused, it takes from none", () => {
  const limiter = new MemoryRateLimiter({ now: () => 0, windowMs: WINDOW, dayMs: DAY });
  const k = key({ rpm: 2, tpm: 100, tokensPerDay: 150 });
  const admitted = limiter.admit(k, 60);
  assert.equal(admitted.allowed, true);
  assert.equal(admitted.requests!.remaining, 1);
  assert.equal(admitted.tokens!.remaining, 40);
  assert.equal(admitted.tokensPerDay!.remaining, 90);
  const tooManyTokens = limiter.admit(k, 50);
  assert.equal(tooManyTokens.allowed, false);
  assert.equal(tooManyTokens.requests!.allowed, true, "the requests budget had room...");
  assert.equal(tooManyTokens.requests!.remaining, 1, "...and gave nothing, since the tokens budget refused");
  assert.equal(tooManyTokens.tokens!.allowed, false);
  assert.equal(limiter.admit(k, 40).allowed, true, "the request it did not take is still there");
  const noRequestsLeft = limiter.admit(k, 1);
  assert.equal(noRequestsLeft.allowed, false);
  assert.equal(noRequestsLeft.requests!.allowed, false);
  assert.equal(noRequestsLeft.tokensPerDay!.remaining, 50, "no tokens taken for a request the rpm refused");
});

Deno.test("adjust gives unused tokens back up to a full budget, and charges usage beyond the reservation as debt", () => {
  let now = 0;
  const limiter = new MemoryRateLimiter({ now: () => now, windowMs: WINDOW });
  const k = key({ tpm: 600 });
  limiter.admit(k, 500);
  limiter.adjust(k, -400); // used 100 of 500
  assert.equal(limiter.admit(k, 0).tokens, undefined, "a reservation of 0 checks requests only");
  assert.equal(limiter.admit(k, 1).tokens!.remaining, 499);
  limiter.adjust(k, -10_000); // more than was taken: the budget is only full
  assert.equal(limiter.admit(k, 600).tokens!.remaining, 0, "full again, never more than full");
  limiter.adjust(k, 300); // used 300 more than reserved: the key owes them
  const inDebt = limiter.admit(k, 1);
  assert.equal(inDebt.allowed, false);
  assert.equal(inDebt.tokens!.retryAfterMs, 30_100, "300 owed + 1 wanted come back in 30.1 s");
  assert.equal(inDebt.tokens!.resetMs, 90_000, "the full budget is back after the debt and a minute");
  now += 30_100;
  assert.equal(limiter.admit(k, 1).allowed, true);
});

Deno.test("the daily quota refills tokensPerDay per 24 hours, and its reset reads in hours", () => {
  let now = 0;
  const limiter = new MemoryRateLimiter({ now: () => now, windowMs: WINDOW, dayMs: DAY });
  const k = key({ tokensPerDay: 2400 }); // one token back every 36 s
  assert.equal(limiter.admit(k, 2400).tokensPerDay!.remaining, 0);
  const refused = limiter.admit(k, 100);
  assert.equal(refused.allowed, false);
  assert.equal(refused.tokensPerDay!.retryAfterMs, 3_600_000, "100 tokens a day / 24 come back in an hour");
  const headers = new Headers();
  rateLimitHeaders(refused, headers);
  assert.equal(headers.get("x-ratelimit-reset-tokens-day"), "24h0m0s");
  assert.equal(headers.get("retry-after"), "3600");
  now += 3_600_000;
  assert.equal(limiter.admit(k, 100).allowed, true);
});

/** One step of a key's life: time passes, a request asks for a reservation, or an admitted one ends. */
type Step =
  | { kind: "wait"; ms: number }
  | { kind: "admit"; tokens: number }
  | { kind: "settle"; pick: number; usedShare: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 30_000 }) }),
  fc.record({ kind: fc.constant("admit" as const), tokens: fc.integer({ min: 1, max: 400 }) }),
  fc.record({
    kind: fc.constant("settle" as const),
    pick: fc.nat(),
    usedShare: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
);

Deno.test("reserve and settle: admissions match a token bucket, and tokens used never exceed limit + refill", () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 1000 }), fc.array(step, { maxLength: 200 }), (limit, steps) => {
    let now = 0;
    const limiter = new MemoryRateLimiter({ now: () => now, windowMs: WINDOW });
    const k = key({ tpm: limit });
    let level = limit; // the reference: a bucket of `limit` tokens refilled at limit per window, settled like Nexus
    const inFlight: number[] = [];
    let charged = 0; // reservations in flight + what settled requests used
    for (const s of steps) {
      if (s.kind === "wait") {
        now += s.ms;
        level = Math.min(limit, level + s.ms * limit / WINDOW);
      } else if (s.kind === "admit") {
        const decision = limiter.admit(k, s.tokens);
        if (Math.abs(level - s.tokens) > 1e-3) assert.equal(decision.allowed, level >= s.tokens, `level ${level}`);
        if (decision.allowed) {
          level -= s.tokens;
          inFlight.push(s.tokens);
          charged += s.tokens;
          assert.ok(charged <= limit + (now + TOLERANCE_MS) * limit / WINDOW, `${charged} charged by ${now}`);
        }
        assert.ok(decision.tokens!.remaining >= 0 && decision.tokens!.remaining <= limit);
      } else if (inFlight.length > 0) {
        const [reserved] = inFlight.splice(s.pick % inFlight.length, 1);
        const used = Math.floor(reserved * s.usedShare);
        limiter.adjust(k, used - reserved);
        level = Math.min(limit, level + reserved - used);
        charged -= reserved - used;
      }
    }
    for (const reserved of inFlight) limiter.adjust(k, -reserved);
    now += WINDOW;
    assert.equal(limiter.admit(k, limit).allowed, true, "a minute after the last request the whole budget is back");
  }));
});

Deno.test("a refusal carries Retry-After and x-ratelimit-* headers in OpenAI's format", () => {
  const headers = new Headers();
  const requests = { allowed: true, limit: 10, remaining: 3, resetMs: 1500, retryAfterMs: 0 };
  const tokens = { allowed: false, limit: 1000, remaining: 40, resetMs: 360_000, retryAfterMs: 1200 };
  rateLimitHeaders({ allowed: false, requests, tokens, tokensPerDay: undefined }, headers);
  assert.equal(headers.get("retry-after"), "2");
  assert.equal(headers.get("x-ratelimit-limit-requests"), "10");
  assert.equal(headers.get("x-ratelimit-remaining-requests"), "3");
  assert.equal(headers.get("x-ratelimit-reset-requests"), "1.5s");
  assert.equal(headers.get("x-ratelimit-limit-tokens"), "1000");
  assert.equal(headers.get("x-ratelimit-remaining-tokens"), "40");
  assert.equal(headers.get("x-ratelimit-reset-tokens"), "6m0s");
  assert.equal(headers.get("x-ratelimit-limit-tokens-day"), null);
  assert.equal(formatDuration(20), "20ms");
  assert.equal(formatDuration(1000), "1s");
  assert.equal(formatDuration(59_950), "1m0s", "rounded up to tenths of a second");
  assert.equal(formatDuration(60_000), "1m0s");
  assert.equal(formatDuration(61_250), "1m1.3s");
  assert.equal(formatDuration(DAY - 60_000), "23h59m0s");
});

Deno.test("very large limits never refuse a moderate burst in memory", () => {
  const limiter = new MemoryRateLimiter({ now: () => 123_456.789, windowMs: WINDOW });
  for (let i = 0; i < 1000; i++) assert.equal(limiter.admit(key({ rpm: 1_000_000_000 }), 0).allowed, true);
});
