/**
 * Token budgets (README, "Token budgets"): what a request reserves from its key's tokens per minute and per day at
 * admission, and settling that reservation when the request ends: the answer's real usage, nothing when it failed
 * before any token, the reservation itself when tokens came but no usage did. Admission is the limiter's one call
 * (Gateway.#limit); settling is a lifecycle subscriber, one adjust call at `end` when the charge differs.
 */
import type { KeyIdentity } from "./auth.ts";
import { HttpError } from "./errors.ts";
import type { TokenCost } from "./operations.ts";
import type { LimitedKey, RateLimiter } from "./rate_limit.ts";
import { type Exchange, type LifecycleSubscriber, Slot } from "./request_lifecycle.ts";

/** Bytes of JSON request body per estimated prompt token (OpenAI's rule of thumb: about 4 characters a token). */
export const BYTES_PER_TOKEN = 4;

/** The tokens one request reserves at admission. */
export interface Reservation {
  /** Estimated prompt tokens: the JSON body's bytes / 4, rounded up; 0 for a multipart body. */
  prompt: number;
  /** Reserved completion tokens. */
  completion: number;
  /** The completion is the request's own cap (`max_tokens`, ...), not the default. */
  requested: boolean;
  /** prompt + completion. */
  total: number;
}

/** The smallest token budget of a key (0 when it has none). */
export function smallestTokenBudget(key: LimitedKey): number {
  if (key.tpm > 0 && key.tokensPerDay > 0) return Math.min(key.tpm, key.tokensPerDay);
  return key.tpm > 0 ? key.tpm : key.tokensPerDay;
}

/**
 * What a request reserves: its estimated prompt plus, for operations that generate, its own output cap (the first of
 * `cost.maxOutput` that is a number >= 0) or else `defaultMaxTokens` capped so the reservation fits `budget` (the
 * key's smallest token budget). Reads only the body's length and the members already parsed: no second parse.
 */
export function reserveTokens(
  cost: TokenCost,
  ctx: { bodyBytes: number; fields: Record<string, unknown> | undefined; defaultMaxTokens: number; budget: number },
): Reservation {
  const { fields } = ctx;
  const prompt = fields === undefined ? 0 : Math.ceil(ctx.bodyBytes / BYTES_PER_TOKEN);
  let completion = 0;
  let requested = false;
  if (cost.generates) {
    const cap = fields === undefined ? undefined : outputCap(fields, cost.maxOutput);
    requested = cap !== undefined;
    completion = cap ?? Math.max(0, Math.min(ctx.defaultMaxTokens, ctx.budget - prompt));
  }
  return { prompt, completion, requested, total: prompt + completion };
}

function outputCap(fields: Record<string, unknown>, members: readonly string[]): number | undefined {
  for (const member of members) {
    const value = fields[member];
    // Anything else is the upstream's to refuse (a 400, whose reservation is then given back).
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) return Math.ceil(value);
  }
  return undefined;
}

/**
 * The 429 for a request whose reservation is larger than a whole budget of its key: it could never be admitted, so
 * it is refused at once, without Retry-After and with `x-should-retry: false` (OpenAI's clients then do not retry).
 */
export function tooLargeError(reservation: Reservation, key: LimitedKey): HttpError {
  const perDay = key.tokensPerDay > 0 && (key.tpm === 0 || key.tokensPerDay < key.tpm);
  const limit = perDay ? key.tokensPerDay : key.tpm;
  const completion = reservation.requested
    ? `${reservation.completion} completion tokens it asks for`
    : `${reservation.completion} completion tokens`;
  return new HttpError(
    429,
    `Request too large for this key's ${limit} tokens per ${perDay ? "day" : "minute"}: it reserves ` +
      `${reservation.total} tokens (about ${reservation.prompt} prompt tokens, estimated from the request's size, ` +
      `plus ${completion}). Reduce the prompt or max_tokens.`,
    {
      code: "request_exceeds_token_budget",
      headers: {
        [perDay ? "x-ratelimit-limit-tokens-day" : "x-ratelimit-limit-tokens"]: String(limit),
        "x-should-retry": "false",
      },
    },
  );
}

/**
 * The tokens a finished request is charged: the answer's usage (input + output) when it reported one; nothing when it
 * produced no token (failed, refused upstream, or the client left before the first byte); otherwise (tokens came, no
 * usage: a stream cut short) its reservation.
 */
export function settledTokens(
  exchange: Pick<Exchange, "inputTokens" | "outputTokens" | "producedTokens">,
  reserved: number,
): number {
  const { inputTokens, outputTokens } = exchange;
  if (inputTokens !== undefined || outputTokens !== undefined) return (inputTokens ?? 0) + (outputTokens ?? 0);
  return exchange.producedTokens ? reserved : 0;
}

interface Held {
  key: KeyIdentity;
  tokens: number;
}

/** Settles each admitted request's reservation when it ends (one limiter call when the charge differs). */
export class TokenBudgets implements LifecycleSubscriber {
  readonly #limiter: RateLimiter;
  readonly #onError: (error: unknown, exchange: Exchange) => void;
  readonly #held = new Slot<Held>();

  /** `onError`: a failed adjust (Redis down): counted and logged; the reservation then stands. */
  constructor(limiter: RateLimiter, options: { onError: (error: unknown, exchange: Exchange) => void }) {
    this.#limiter = limiter;
    this.#onError = options.onError;
  }

  /** Records that the request was admitted holding `tokens` of its key's token budgets. */
  hold(exchange: Exchange, held: Held): void {
    this.#held.set(exchange, held);
  }

  /** Charges the difference between what the request used and what it held. */
  end(exchange: Exchange): void {
    const held = this.#held.get(exchange);
    if (held === undefined) return;
    const delta = settledTokens(exchange, held.tokens) - held.tokens;
    if (delta === 0) return;
    try {
      const done = this.#limiter.adjust(held.key, delta);
      if (done instanceof Promise) done.catch((error) => this.#onError(error, exchange));
    } catch (error) {
      this.#onError(error, exchange);
    }
  }
}
