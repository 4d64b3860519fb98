/**
 * Per-key budgets: the limiter interface, the rule every limiter applies, and the in-memory limiter.
 *
 * A key has up to three budgets: requests per minute, tokens per minute and tokens per day. Each is a GCRA bucket
 * (generic cell rate algorithm: a token bucket kept as one timestamp, the theoretical arrival time or TAT): a key may
 * spend its whole budget at once, then gets it back continuously, one unit every window/limit. A request is admitted
 * only when every budget of its key has room for its cost (1 request; its reserved tokens), and then takes from all of
 * them; refused, it takes from none. Memory is O(1) per budget whatever the limit, and the Redis version is one small
 * atomic script (rate_limit_redis.ts) that applies this same rule.
 */

/** One budget's state after a check. */
export interface RateDecision {
  /** Whether this budget had room for the request's cost. */
  allowed: boolean;
  /** The budget per window. */
  limit: number;
  /** Units (requests, tokens) left right now, after the request's cost when it was admitted. */
  remaining: number;
  /** Milliseconds until the full budget is back. */
  resetMs: number;
  /** Refused: milliseconds until the cost fits again (0 when it fits now). */
  retryAfterMs: number;
}

/** The limiter's answer for one request: admitted when every budget the key has had room. */
export interface LimitDecision {
  /** Whether the request may proceed (it took its cost from every budget; refused, it took nothing). */
  allowed: boolean;
  /** Requests per minute, when the key has that budget. */
  requests: RateDecision | undefined;
  /** Tokens per minute, when the key has that budget and the request was charged tokens. */
  tokens: RateDecision | undefined;
  /** Tokens per day, when the key has that budget and the request was charged tokens. */
  tokensPerDay: RateDecision | undefined;
}

/** A key's name and budgets; 0 means no such budget. */
export interface LimitedKey {
  /** The key's name: its buckets' identity (never the key itself). */
  readonly name: string;
  /** Requests per minute. */
  readonly rpm: number;
  /** Tokens per minute. */
  readonly tpm: number;
  /** Tokens per day. */
  readonly tokensPerDay: number;
}

/** Checks requests against their key's budgets; every implementation applies the same GCRA rule. */
export interface RateLimiter {
  /**
   * Takes one request and `tokens` reserved tokens from the key's budgets when every one has room, nothing otherwise.
   * `tokens` 0 checks the requests budget only. Rejects when the backing store fails.
   */
  admit(key: LimitedKey, tokens: number): Promise<LimitDecision> | LimitDecision;
  /**
   * Adds `tokens` to what the key's token budgets have taken, whatever their state (negative: gives tokens back, up
   * to a full budget): settles a reservation with what the request really used. Rejects when the store fails.
   */
  adjust(key: LimitedKey, tokens: number): Promise<void> | void;
  /** True when the limiter can answer now (Redis connected). */
  usable(): boolean;
  /** Releases connections. */
  close(): Promise<void>;
}

/** The window of the requests and tokens per minute budgets. */
export const WINDOW_MS = 60_000;
/** The window of the tokens per day budget. */
export const DAY_MS = 86_400_000;

/** Window lengths; tests shorten them. */
export interface Windows {
  /** Requests and tokens per minute (default WINDOW_MS). */
  windowMs?: number;
  /** Tokens per day (default DAY_MS). */
  dayMs?: number;
}

/**
 * Float tolerance of the fit test, in ms. Redis times buckets in ms since 2023-11-14, about 6e10, where a double's
 * step is about 1e-5 ms: an exact fit (a reservation of the whole budget) must not fail by a rounding step. Admitting
 * a microsecond early is harmless.
 */
export const TOLERANCE_MS = 1e-3;

/** The windows with their defaults filled in. */
export function windowsOf(windows: Windows = {}): Required<Windows> {
  return { windowMs: windows.windowMs ?? WINDOW_MS, dayMs: windows.dayMs ?? DAY_MS };
}

/** One bucket's GCRA step at `now`: where its TAT is, where it would be after the cost, and whether the cost fits. */
export interface GcraStep {
  /** The TAT now (a full bucket's is `now`). */
  current: number;
  /** The TAT once the cost is taken. */
  next: number;
  /** The bucket has room for the cost. */
  fits: boolean;
}

/**
 * GCRA for one bucket of `limit` per `windowMs` at `now` (ms), given its stored TAT (undefined, or at or before `now`:
 * full). The bucket holds `limit - (tat - now) / (windowMs / limit)` units; a cost `c` fits when
 * `max(tat, now) + c * windowMs / limit - windowMs <= now`. A request takes its costs only when every one fits.
 */
export function gcraStep(
  tat: number | undefined,
  bucket: { now: number; limit: number; windowMs: number; cost: number },
): GcraStep {
  const { now, windowMs } = bucket;
  const current = tat === undefined || tat < now ? now : tat;
  const next = current + bucket.cost * windowMs / bucket.limit;
  return { current, next, fits: next - windowMs - now <= TOLERANCE_MS };
}

/** What a client is told about one bucket after a check: `taken` when the request was admitted and took its cost. */
export function bucketDecision(
  step: GcraStep,
  ctx: { taken: boolean; now: number; limit: number; windowMs: number },
): RateDecision {
  const { now, limit, windowMs } = ctx;
  const tat = ctx.taken ? step.next : step.current;
  return {
    allowed: step.fits,
    limit,
    remaining: Math.max(0, Math.floor((windowMs - (tat - now) + TOLERANCE_MS) / (windowMs / limit))),
    resetMs: Math.max(0, Math.ceil(tat - now)),
    retryAfterMs: step.fits ? 0 : Math.ceil(step.next - windowMs - now),
  };
}

/** A key's buckets in memory: their TATs in ms (at or before now: full). */
interface KeyTats {
  rpm: number;
  tpm: number;
  tpd: number;
}

/** GCRA in process memory: one entry per key with its buckets' TATs, per process. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #keys = new Map<string, KeyTats>();
  readonly #now: () => number;
  readonly #windows: Required<Windows>;
  #sweptAt = 0;

  /** `now` is injectable for tests; it must not go backwards. */
  constructor(options: Windows & { now?: () => number } = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#windows = windowsOf(options);
  }

  /** Admits when every budget of the key has room (the rule of gcraStep, for each of its budgets). */
  admit(key: LimitedKey, tokens: number): LimitDecision {
    const now = this.#now();
    const tats = this.#tats(key.name, now);
    const { windowMs, dayMs } = this.#windows;
    const rpm = key.rpm > 0 ? gcraStep(tats?.rpm, { now, limit: key.rpm, windowMs, cost: 1 }) : undefined;
    const charged = tokens !== 0;
    const tpm = charged && key.tpm > 0
      ? gcraStep(tats?.tpm, { now, limit: key.tpm, windowMs, cost: tokens })
      : undefined;
    const tpd = charged && key.tokensPerDay > 0
      ? gcraStep(tats?.tpd, { now, limit: key.tokensPerDay, windowMs: dayMs, cost: tokens })
      : undefined;
    const allowed = (rpm?.fits ?? true) && (tpm?.fits ?? true) && (tpd?.fits ?? true);
    if (allowed && (rpm !== undefined || tpm !== undefined || tpd !== undefined)) {
      const stored = tats ?? this.#add(key.name);
      if (rpm !== undefined) stored.rpm = rpm.next;
      if (tpm !== undefined) stored.tpm = tpm.next;
      if (tpd !== undefined) stored.tpd = tpd.next;
    }
    return {
      allowed,
      requests: rpm && bucketDecision(rpm, { taken: allowed, now, limit: key.rpm, windowMs }),
      tokens: tpm && bucketDecision(tpm, { taken: allowed, now, limit: key.tpm, windowMs }),
      tokensPerDay: tpd && bucketDecision(tpd, { taken: allowed, now, limit: key.tokensPerDay, windowMs: dayMs }),
    };
  }

  /** Adds `tokens` to the key's token budgets. */
  adjust(key: LimitedKey, tokens: number): void {
    if (tokens === 0 || (key.tpm <= 0 && key.tokensPerDay <= 0)) return;
    const now = this.#now();
    const stored = this.#tats(key.name, now) ?? this.#add(key.name);
    const { windowMs, dayMs } = this.#windows;
    if (key.tpm > 0) stored.tpm = gcraStep(stored.tpm, { now, limit: key.tpm, windowMs, cost: tokens }).next;
    if (key.tokensPerDay > 0) {
      stored.tpd = gcraStep(stored.tpd, { now, limit: key.tokensPerDay, windowMs: dayMs, cost: tokens }).next;
    }
  }

  #tats(name: string, now: number): KeyTats | undefined {
    if (now - this.#sweptAt > this.#windows.windowMs) this.#sweep(now);
    return this.#keys.get(name);
  }

  #add(name: string): KeyTats {
    const tats = { rpm: -Infinity, tpm: -Infinity, tpd: -Infinity };
    this.#keys.set(name, tats);
    return tats;
  }

  /** Forgets keys whose buckets are all full again (their state equals a fresh key's). */
  #sweep(now: number): void {
    this.#sweptAt = now;
    for (const [name, tats] of this.#keys) {
      if (tats.rpm <= now && tats.tpm <= now && tats.tpd <= now) this.#keys.delete(name);
    }
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

/** OpenAI's header names of one budget: `x-ratelimit-{limit,remaining,reset}-<suffix>`. */
class BudgetHeaders {
  readonly limit: string;
  readonly remaining: string;
  readonly reset: string;
  constructor(suffix: string) {
    this.limit = `x-ratelimit-limit-${suffix}`;
    this.remaining = `x-ratelimit-remaining-${suffix}`;
    this.reset = `x-ratelimit-reset-${suffix}`;
  }

  /** Sets the three headers of `state`. */
  set(state: RateDecision, headers: HeaderSink): void {
    headers.set(this.limit, String(state.limit));
    headers.set(this.remaining, String(state.remaining));
    headers.set(this.reset, formatDuration(state.resetMs));
  }
}

const REQUEST_HEADERS = new BudgetHeaders("requests");
const TOKEN_HEADERS = new BudgetHeaders("tokens");
/** OpenAI defines no header for a daily budget: the tokens ones, suffixed `-day`. */
const DAILY_TOKEN_HEADERS = new BudgetHeaders("tokens-day");

/** Where response headers are set (names lower-case): a `Headers` or the gateway's ResponseHeaders. */
export interface HeaderSink {
  set(name: string, value: string): void;
}

/** Response headers describing a decision, in OpenAI's `x-ratelimit-*` format, and Retry-After when refused. */
export function rateLimitHeaders(decision: LimitDecision, headers: HeaderSink): void {
  const { requests, tokens, tokensPerDay } = decision;
  let retryAfterMs = 0;
  if (requests !== undefined) {
    REQUEST_HEADERS.set(requests, headers);
    retryAfterMs = requests.retryAfterMs;
  }
  if (tokens !== undefined) {
    TOKEN_HEADERS.set(tokens, headers);
    retryAfterMs = Math.max(retryAfterMs, tokens.retryAfterMs);
  }
  if (tokensPerDay !== undefined) {
    DAILY_TOKEN_HEADERS.set(tokensPerDay, headers);
    retryAfterMs = Math.max(retryAfterMs, tokensPerDay.retryAfterMs);
  }
  if (!decision.allowed) headers.set("retry-after", String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
}

/** Formats milliseconds as OpenAI does in reset headers (Go durations): `20ms`, `1.5s`, `6m0s`, `23h59m0s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const tenths = Math.ceil(ms / 100);
  if (tenths < 600) return `${tenths / 10}s`;
  const hours = Math.floor(tenths / 36_000);
  const minutes = Math.floor((tenths % 36_000) / 600);
  const seconds = (tenths % 600) / 10;
  return hours > 0 ? `${hours}h${minutes}m${seconds}s` : `${minutes}m${seconds}s`;
}
