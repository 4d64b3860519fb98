/** Per-key request limits over a sliding 60-second window: the limiter interface and the in-memory limiter. */

/** The limiter's answer for one request. */
export interface RateDecision {
  /** Whether the request may proceed. */
  allowed: boolean;
  /** The key's budget per window. */
  limit: number;
  /** Requests left in the current window after this one. */
  remaining: number;
  /** Milliseconds until the oldest counted request leaves the window (one more request fits). */
  resetMs: number;
}

/** Counts requests per bucket; every implementation admits at most `limit` requests in any window. */
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

interface Ring {
  times: Float64Array;
  head: number;
  count: number;
}

/** Sliding-window-log limiter in process memory: exact, O(1) to admit, per process. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #rings = new Map<string, Ring>();
  readonly #now: () => number;
  readonly #windowMs: number;

  /** `now` is injectable for tests; it must not go backwards. */
  constructor(options: { now?: () => number; windowMs?: number } = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#windowMs = options.windowMs ?? WINDOW_MS;
  }

  /** Admits when fewer than `limit` requests were admitted in the last window. */
  check(bucket: string, limit: number): RateDecision {
    const now = this.#now();
    let ring = this.#rings.get(bucket);
    if (ring === undefined || ring.times.length !== limit) {
      ring = { times: new Float64Array(limit), head: 0, count: 0 };
      this.#rings.set(bucket, ring);
    }
    const windowStart = now - this.#windowMs;
    // The ring holds the last `limit` admissions, oldest at head.
    if (ring.count === limit && ring.times[ring.head] > windowStart) {
      return { allowed: false, limit, remaining: 0, resetMs: Math.ceil(ring.times[ring.head] - windowStart) };
    }
    ring.times[ring.head] = now;
    ring.head = (ring.head + 1) % limit;
    if (ring.count < limit) ring.count++;
    const inWindow = countAfter(ring, windowStart);
    const oldest = ring.times[(ring.head - inWindow + limit * 2) % limit];
    return { allowed: true, limit, remaining: limit - inWindow, resetMs: Math.ceil(oldest - windowStart) };
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

/** How many ring entries are newer than `after` (entries are in time order from head). */
function countAfter(ring: Ring, after: number): number {
  const size = ring.times.length;
  const start = (ring.head - ring.count + size) % size;
  let lo = 0;
  let hi = ring.count; // first index (from start) whose time > after
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ring.times[(start + mid) % size] > after) hi = mid;
    else lo = mid + 1;
  }
  return ring.count - lo;
}

/** Response headers describing a decision, in OpenAI's `x-ratelimit-*` format. */
export function rateLimitHeaders(decision: RateDecision, headers: Headers): void {
  headers.set("x-ratelimit-limit-requests", String(decision.limit));
  headers.set("x-ratelimit-remaining-requests", String(decision.remaining));
  headers.set("x-ratelimit-reset-requests", formatDuration(decision.resetMs));
  if (!decision.allowed) headers.set("retry-after", String(Math.max(1, Math.ceil(decision.resetMs / 1000))));
}

/** Formats milliseconds as OpenAI does in reset headers: `20ms`, `1.5s`, `1m0s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const seconds = Math.ceil(ms / 100) / 10;
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${Math.round((seconds - minutes * 60) * 10) / 10}s`;
}
