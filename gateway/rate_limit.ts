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

/** Which budget a bucket is: names its store key (`<prefix>{<key>}:<kind>`). */
export type BucketKind = "rpm" | "tpm" | "tpd";

/** One bucket to check or adjust: `cost` units of a budget of `limit` per `windowMs`. */
export interface Bucket {
  /** Which budget. */
  kind: BucketKind;
  /** Units per window (> 0). */
  limit: number;
  /** The window in milliseconds. */
  windowMs: number;
  /** Units this request takes (negative: gives back, adjust only). */
  cost: number;
}

/** Admit: take every cost only when all fit. Adjust: add every cost, unconditionally. */
export type BucketMode = "admit" | "adjust";

/**
 * Float tolerance of the fit test, in ms. Redis times buckets in ms since 2023-11-14, about 6e10, where a double's
 * step is about 1e-5 ms: an exact fit (a reservation of the whole budget) must not fail by a rounding step. Admitting
 * a microsecond early is harmless.
 */
export const TOLERANCE_MS = 1e-3;

/**
 * The buckets a request is checked against: requests per minute (cost 1) when `request` and the key has that budget,
 * and its token budgets (cost `tokens`) when `tokens` is not 0. Keys without token budgets get at most one bucket.
 */
export function bucketsOf(
  key: LimitedKey,
  ctx: { request: boolean; tokens: number; windows: Required<Windows> },
): Bucket[] {
  const buckets: Bucket[] = [];
  if (ctx.request && key.rpm > 0) {
    buckets.push({ kind: "rpm", limit: key.rpm, windowMs: ctx.windows.windowMs, cost: 1 });
  }
  if (ctx.tokens !== 0) {
    if (key.tpm > 0) buckets.push({ kind: "tpm", limit: key.tpm, windowMs: ctx.windows.windowMs, cost: ctx.tokens });
    if (key.tokensPerDay > 0) {
      buckets.push({ kind: "tpd", limit: key.tokensPerDay, windowMs: ctx.windows.dayMs, cost: ctx.tokens });
    }
  }
  return buckets;
}

/** The windows with their defaults filled in. */
export function windowsOf(windows: Windows = {}): Required<Windows> {
  return { windowMs: windows.windowMs ?? WINDOW_MS, dayMs: windows.dayMs ?? DAY_MS };
}

/**
 * GCRA over one key's buckets at `now` (ms): `tats` are their stored theoretical arrival times (undefined: a full
 * bucket). A bucket of `limit` per `windowMs` holds `limit - (tat - now) / (windowMs / limit)` units; cost `c` fits
 * when `max(tat, now) + c * windowMs / limit - windowMs <= now`. Returns whether the request was admitted, the new TATs
 * (unchanged when refused; at or before `now` means full), and each bucket's state (admit mode).
 */
export function gcra(
  tats: ReadonlyArray<number | undefined>,
  ctx: { now: number; buckets: readonly Bucket[]; mode: BucketMode },
): { allowed: boolean; tats: number[]; decisions: RateDecision[] } {
  const { now, buckets } = ctx;
  const admit = ctx.mode === "admit";
  const current: number[] = [];
  const next: number[] = [];
  let allowed = true;
  for (let i = 0; i < buckets.length; i++) {
    const { limit, windowMs, cost } = buckets[i];
    const tat = tats[i];
    current.push(tat === undefined || tat < now ? now : tat);
    next.push(current[i] + cost * windowMs / limit);
    if (admit && next[i] - windowMs - now > TOLERANCE_MS) allowed = false;
  }
  const result = allowed ? next : current;
  const decisions: RateDecision[] = [];
  if (admit) {
    for (let i = 0; i < buckets.length; i++) {
      const { limit, windowMs } = buckets[i];
      const late = next[i] - windowMs - now;
      const remaining = Math.floor((windowMs - (result[i] - now) + TOLERANCE_MS) / (windowMs / limit));
      decisions.push({
        allowed: late <= TOLERANCE_MS,
        limit,
        remaining: Math.max(0, remaining),
        resetMs: Math.max(0, Math.ceil(result[i] - now)),
        retryAfterMs: late > TOLERANCE_MS ? Math.ceil(late) : 0,
      });
    }
  }
  return { allowed, tats: result, decisions };
}

/** The LimitDecision of checked buckets (their decisions in the same order). */
export function limitDecision(
  allowed: boolean,
  checked: { buckets: readonly Bucket[]; decisions: readonly RateDecision[] },
): LimitDecision {
  const decision: LimitDecision = { allowed, requests: undefined, tokens: undefined, tokensPerDay: undefined };
  for (let i = 0; i < checked.buckets.length; i++) {
    const state = checked.decisions[i];
    const kind = checked.buckets[i].kind;
    if (kind === "rpm") decision.requests = state;
    else if (kind === "tpm") decision.tokens = state;
    else decision.tokensPerDay = state;
  }
  return decision;
}

/** GCRA in process memory: one number per bucket, per process. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #tats = new Map<string, number>();
  readonly #now: () => number;
  readonly #windows: Required<Windows>;
  #sweptAt = 0;

  /** `now` is injectable for tests; it must not go backwards. */
  constructor(options: Windows & { now?: () => number } = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#windows = windowsOf(options);
  }

  /** Admits when every budget of the key has room. */
  admit(key: LimitedKey, tokens: number): LimitDecision {
    const buckets = bucketsOf(key, { request: true, tokens, windows: this.#windows });
    const step = this.#apply(key.name, { buckets, mode: "admit" });
    return limitDecision(step.allowed, { buckets, decisions: step.decisions });
  }

  /** Adds `tokens` to the key's token budgets. */
  adjust(key: LimitedKey, tokens: number): void {
    const buckets = bucketsOf(key, { request: false, tokens, windows: this.#windows });
    if (buckets.length > 0) this.#apply(key.name, { buckets, mode: "adjust" });
  }

  #apply(name: string, ctx: { buckets: Bucket[]; mode: BucketMode }): ReturnType<typeof gcra> {
    const now = this.#now();
    if (now - this.#sweptAt > this.#windows.windowMs) this.#sweep(now);
    const names = ctx.buckets.map((bucket) => `${name}:${bucket.kind}`);
    const step = gcra(names.map((n) => this.#tats.get(n)), { now, ...ctx });
    for (let i = 0; i < names.length; i++) {
      if (step.tats[i] > now) this.#tats.set(names[i], step.tats[i]);
      else this.#tats.delete(names[i]);
    }
    return step;
  }

  /** Forgets buckets that are full again (their state equals a fresh key's). */
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

/** Response headers describing a decision, in OpenAI's `x-ratelimit-*` format, and Retry-After when refused. */
export function rateLimitHeaders(decision: LimitDecision, headers: Headers): void {
  let retryAfterMs = 0;
  if (decision.requests !== undefined) {
    budgetHeaders(decision.requests, { headers, suffix: "requests" });
    retryAfterMs = decision.requests.retryAfterMs;
  }
  if (decision.tokens !== undefined) {
    budgetHeaders(decision.tokens, { headers, suffix: "tokens" });
    retryAfterMs = Math.max(retryAfterMs, decision.tokens.retryAfterMs);
  }
  if (decision.tokensPerDay !== undefined) {
    budgetHeaders(decision.tokensPerDay, { headers, suffix: "tokens-day" });
    retryAfterMs = Math.max(retryAfterMs, decision.tokensPerDay.retryAfterMs);
  }
  if (!decision.allowed) headers.set("retry-after", String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
}

function budgetHeaders(state: RateDecision, ctx: { headers: Headers; suffix: string }): void {
  ctx.headers.set(`x-ratelimit-limit-${ctx.suffix}`, String(state.limit));
  ctx.headers.set(`x-ratelimit-remaining-${ctx.suffix}`, String(state.remaining));
  ctx.headers.set(`x-ratelimit-reset-${ctx.suffix}`, formatDuration(state.resetMs));
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
