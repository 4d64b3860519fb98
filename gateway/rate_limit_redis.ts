/** The Redis limiter: one atomic Lua script per admission, shared by every gateway replica. */
import { Redis } from "ioredis";
import {
  type LimitDecision,
  type LimitedKey,
  type RateDecision,
  type RateLimiter,
  TOLERANCE_MS,
  type Windows,
  windowsOf,
} from "./rate_limit.ts";

/**
 * GCRA (`gcraStep` in rate_limit.ts, the same rule step for step) over the buckets of one API key, atomically, timed by
 * the Redis server's clock so every replica agrees. Each bucket is one string key holding its theoretical arrival
 * time in ms; a full bucket has no key.
 *
 * KEYS[i]: bucket i (`<prefix>{<key name>}:rpm|tpm|tpd`; the hash tag keeps one key's buckets in one cluster slot).
 * ARGV[1]: `admit` (take every bucket's cost only if all have room, else change nothing) or `adjust` (add every
 * bucket's cost whatever its state; a negative cost gives units back, up to a full bucket).
 * ARGV[3i-1], ARGV[3i], ARGV[3i+1]: bucket i's limit (units per window), window (ms) and cost (units).
 * Returns {allowed, then per bucket: fits, remaining, reset_ms, retry_after_ms} for admit; {1} for adjust.
 */
export const LIMIT_LUA = `
local tolerance = ${TOLERANCE_MS}
local admit = ARGV[1] == 'admit'
local t = redis.call('TIME')
-- milliseconds since 2023-11-14 (not 1970) keep sub-microsecond precision in a double
local now = (tonumber(t[1]) - 1700000000) * 1000 + tonumber(t[2]) / 1000
local limit, window, tat, nxt = {}, {}, {}, {}
local allowed = 1
for i = 1, #KEYS do
  limit[i] = tonumber(ARGV[3 * i - 1])
  window[i] = tonumber(ARGV[3 * i])
  local stored = tonumber(redis.call('GET', KEYS[i]))
  if stored == nil or stored < now then tat[i] = now else tat[i] = stored end
  nxt[i] = tat[i] + tonumber(ARGV[3 * i + 1]) * window[i] / limit[i]
  if admit and nxt[i] - window[i] - now > tolerance then allowed = 0 end
end
local out = {allowed}
for i = 1, #KEYS do
  if allowed == 1 then
    tat[i] = nxt[i]
    if nxt[i] > now then
      redis.call('SET', KEYS[i], string.format('%.17g', nxt[i]), 'PX', math.max(1, math.ceil(nxt[i] - now)))
    else
      redis.call('DEL', KEYS[i])
    end
  end
  if admit then
    local late = nxt[i] - window[i] - now
    local remaining = math.floor((window[i] - (tat[i] - now) + tolerance) / (window[i] / limit[i]))
    out[#out + 1] = late > tolerance and 0 or 1
    out[#out + 1] = math.max(0, remaining)
    out[#out + 1] = math.max(0, math.ceil(tat[i] - now))
    out[#out + 1] = late > tolerance and math.ceil(late) or 0
  end
end
return out
`;

/** The script as a command: key count, the keys, then mode and each bucket's limit, window and cost. */
type LimitCommand = (...keyCountKeysThenArgs: Array<string | number>) => Promise<number[]>;

/** The Redis keys of one API key's buckets. */
interface BucketNames {
  rpm: string;
  tpm: string;
  tpd: string;
}

/** One bucket's part of the script's admit reply: fits, remaining, reset_ms, retry_after_ms from index `at`. */
function replyDecision(reply: number[], ctx: { at: number; limit: number }): RateDecision {
  const { at } = ctx;
  return {
    allowed: reply[at] === 1,
    limit: ctx.limit,
    remaining: reply[at + 1],
    resetMs: reply[at + 2],
    retryAfterMs: reply[at + 3],
  };
}

/** Options of the Redis limiter. */
export interface RedisLimiterOptions extends Windows {
  /** Command and connect timeout in milliseconds: a dead Redis costs at most this much per request. */
  timeoutMs: number;
  /** Called on every failed command or connection error (log and count it). */
  onError: (error: Error) => void;
  /** Key prefix. */
  prefix?: string;
}

/** Limiter backed by Redis: exact across replicas; fails fast while Redis is unreachable and reconnects alone. */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: Redis;
  readonly #limit: LimitCommand;
  readonly #windows: Required<Windows>;
  readonly #prefix: string;
  readonly #bucketNames = new Map<string, BucketNames>();

  constructor(url: string, options: RedisLimiterOptions) {
    this.#windows = windowsOf(options);
    this.#prefix = options.prefix ?? "nexus:rl:";
    this.#redis = new Redis(url, {
      enableOfflineQueue: false, // no queueing while disconnected: fail now, not later
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(options.timeoutMs, 500),
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (times) => Math.min(50 * times, 1000), // keep reconnecting in the background, forever
      lazyConnect: false,
      enableAutoPipelining: true, // commands of one tick go out in one socket write
    });
    this.#redis.on("error", options.onError);
    this.#redis.defineCommand("nexusLimit", { lua: LIMIT_LUA }); // the key count is the first argument
    const redis = this.#redis as unknown as { nexusLimit: LimitCommand };
    this.#limit = redis.nexusLimit.bind(redis);
  }

  /** One EVALSHA (EVAL on NOSCRIPT) per call; a key without a token budget passes its requests bucket only. */
  async admit(key: LimitedKey, tokens: number): Promise<LimitDecision> {
    const { windowMs, dayMs } = this.#windows;
    const names = this.#names(key.name);
    const rpm = key.rpm > 0;
    const tpm = tokens !== 0 && key.tpm > 0;
    const tpd = tokens !== 0 && key.tokensPerDay > 0;
    const decision: LimitDecision = { allowed: true, requests: undefined, tokens: undefined, tokensPerDay: undefined };
    const count = (rpm ? 1 : 0) + (tpm ? 1 : 0) + (tpd ? 1 : 0);
    if (count === 0) return decision;
    const argv: Array<string | number> = [count];
    if (rpm) argv.push(names.rpm);
    if (tpm) argv.push(names.tpm);
    if (tpd) argv.push(names.tpd);
    argv.push("admit");
    if (rpm) argv.push(key.rpm, windowMs, 1);
    if (tpm) argv.push(key.tpm, windowMs, tokens);
    if (tpd) argv.push(key.tokensPerDay, dayMs, tokens);
    const reply = await this.#limit(...argv);
    decision.allowed = reply[0] === 1;
    let at = 1; // each bucket's four numbers follow `allowed`, in the order the buckets were passed
    if (rpm) {
      decision.requests = replyDecision(reply, { at, limit: key.rpm });
      at += 4;
    }
    if (tpm) {
      decision.tokens = replyDecision(reply, { at, limit: key.tpm });
      at += 4;
    }
    if (tpd) decision.tokensPerDay = replyDecision(reply, { at, limit: key.tokensPerDay });
    return decision;
  }

  /** One EVALSHA adding `tokens` to the key's token budgets (none when it has no token budget). */
  async adjust(key: LimitedKey, tokens: number): Promise<void> {
    const tpm = key.tpm > 0;
    const tpd = key.tokensPerDay > 0;
    if (tokens === 0 || (!tpm && !tpd)) return;
    const { windowMs, dayMs } = this.#windows;
    const names = this.#names(key.name);
    const argv: Array<string | number> = [(tpm ? 1 : 0) + (tpd ? 1 : 0)];
    if (tpm) argv.push(names.tpm);
    if (tpd) argv.push(names.tpd);
    argv.push("adjust");
    if (tpm) argv.push(key.tpm, windowMs, tokens);
    if (tpd) argv.push(key.tokensPerDay, dayMs, tokens);
    await this.#limit(...argv);
  }

  /** The Redis keys of a key's buckets, made once per key name. */
  #names(name: string): BucketNames {
    let names = this.#bucketNames.get(name);
    if (names === undefined) {
      const base = `${this.#prefix}{${name}}:`; // the hash tag keeps a key's buckets in one cluster slot
      names = { rpm: `${base}rpm`, tpm: `${base}tpm`, tpd: `${base}tpd` };
      this.#bucketNames.set(name, names);
    }
    return names;
  }

  /** True while connected. */
  usable(): boolean {
    return this.#redis.status === "ready";
  }

  /** Resolves once connected, or false after `timeoutMs` (startup waits for it). */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.usable()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#redis.off("ready", onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#redis.once("ready", onReady);
    });
  }

  /** Disconnects. */
  async close(): Promise<void> {
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }
}
