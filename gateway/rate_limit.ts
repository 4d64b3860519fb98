/**
 * Per-key request limits: the limiter interface and the in-memory limiter.
 *
 * Both limiters use GCRA (generic cell rate algorithm, a token bucket kept as one timestamp per key): a key may send
 * its whole per-minute budget at once, then one more request every 60s/limit. Memory is O(1) per key whatever the
 * limit, and the Redis version is one small atomic script.
 */

/** The limiter's answer for one request. */
export interface RateDecision {
  /** Whether the request may proceed. */
  allowed: boolean;
  /** The key's budget per window. */
  limit: number;
  /** Requests that could still be sent right now. */
  remaining: number;
  /** Milliseconds until the full budget is back. */
  resetMs: number;
  /** Refused: milliseconds until one request fits again. */
  retryAfterMs: number;
}

/** Counts requests per bucket; every implementation applies the same GCRA rule. */
export interface RateLimiter {
  /** Records one request for `bucket` if it fits under `limit`; rejects when the backing store fails. */
  check(bucket: string, limit: number): Promise<RateDecision> | RateDecision;
  /** True when the limiter can answer now (Redis connected). */
  usable(): boolean;
  /** Releases connections. */
  close(): Promise<void>;
}

/** The window every limiter uses: requests per minute. */
export const WINDOW_MS = 60_000;

/** One GCRA step: the decision and the key's new theoretical arrival time (unchanged when refused). */
export function gcra(
  tat: number | undefined,
  options: { now: number; limit: number; windowMs: number },
): { decision: RateDecision; tat: number } {
  const { now, limit, windowMs } = options;
  const interval = windowMs / limit;
  const current = tat === undefined || tat < now ? now : tat;
  const next = current + interval;
  const allowAt = next - windowMs;
  if (allowAt - now > 1e-6) { // a tolerance, as repeated float additions of the interval drift
    const decision = {
      allowed: false,
      limit,
      remaining: 0,
      resetMs: Math.ceil(current - now),
      retryAfterMs: Math.ceil(allowAt - now),
    };
    return { decision, tat: current };
  }
  const remaining = Math.floor((windowMs - (next - now)) / interval + 1e-9);
  return {
    decision: { allowed: true, limit, remaining, resetMs: Math.ceil(next - now), retryAfterMs: 0 },
    tat: next,
  };
}

/** GCRA in process memory: one number per key, per process. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #tats = new Map<string, number>();
  readonly #now: () => number;
  readonly #windowMs: number;
  #sweptAt = 0;

  /** `now` is injectable for tests; it must not go backwards. */
  constructor(options: { now?: () => number; windowMs?: number } = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#windowMs = options.windowMs ?? WINDOW_MS;
  }

  /** Admits when the key's bucket has room. */
  check(bucket: string, limit: number): RateDecision {
    const now = this.#now();
    if (now - this.#sweptAt > this.#windowMs) this.#sweep(now);
    const step = gcra(this.#tats.get(bucket), { now, limit, windowMs: this.#windowMs });
    this.#tats.set(bucket, step.tat);
    return step.decision;
  }

  /** Forgets keys whose bucket is full again (their state equals a fresh key's). */
  #sweep(now: number): void {
    this.#sweptAt = now;
    for (const [bucket, tat] of this.#tats) if (tat <= now) this.#tats.delete(bucket);
  }

  /** Always usable. */
  usable(): boolean {
    return true;
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Response headers describing a decision, in OpenAI's `x-ratelimit-*` format. */
export function rateLimitHeaders(decision: RateDecision, headers: Headers): void {
  headers.set("x-ratelimit-limit-requests", String(decision.limit));
  headers.set("x-ratelimit-remaining-requests", String(decision.remaining));
  headers.set("x-ratelimit-reset-requests", formatDuration(decision.resetMs));
  if (!decision.allowed) headers.set("retry-after", String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))));
}

/** Formats milliseconds as OpenAI does in reset headers: `20ms`, `1.5s`, `1m0s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const seconds = Math.ceil(ms / 100) / 10;
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${Math.round((seconds - minutes * 60) * 10) / 10}s`;
}
