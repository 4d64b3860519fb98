/** The Redis limiter: one atomic Lua script per request, shared by every gateway replica. */
import { Redis } from "ioredis";
import type { RateDecision, RateLimiter } from "./rate_limit.ts";
import { WINDOW_MS } from "./rate_limit.ts";

/**
 * GCRA (see rate_limit.ts) on one string key holding the theoretical arrival time in ms, timed by the Redis server
 * clock so every replica agrees. KEYS[1] bucket; ARGV limit, window ms.
 * Returns {allowed, remaining, resetMs, retryAfterMs}.
 */
export const GCRA_LUA = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
-- milliseconds since 2023-11-14 (not 1970) keep sub-microsecond precision in a double
local now = (tonumber(t[1]) - 1700000000) * 1000 + tonumber(t[2]) / 1000
local interval = window / limit
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local nxt = tat + interval
local allow_at = nxt - window
if allow_at - now > 1e-6 then
  return {0, 0, math.ceil(tat - now), math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.17g', nxt), 'PX', math.max(1, math.ceil(nxt - now)))
return {1, math.floor((window - (nxt - now)) / interval + 1e-9), math.ceil(nxt - now), 0}
`;

type LimitCommand = (key: string, limit: number, windowMs: number) => Promise<[number, number, number, number]>;

/** Options of the Redis limiter. */
export interface RedisLimiterOptions {
  /** Command and connect timeout in milliseconds: a dead Redis costs at most this much per request. */
  timeoutMs: number;
  /** Called on every failed command or connection error (log and count it). */
  onError: (error: Error) => void;
  /** Window length; tests shorten it. */
  windowMs?: number;
  /** Key prefix. */
  prefix?: string;
}

/** Limiter backed by Redis: exact across replicas; fails fast while Redis is unreachable and reconnects alone. */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: Redis;
  readonly #limit: LimitCommand;
  readonly #windowMs: number;
  readonly #prefix: string;

  constructor(url: string, options: RedisLimiterOptions) {
    this.#windowMs = options.windowMs ?? WINDOW_MS;
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
    this.#redis.defineCommand("nexusLimit", { numberOfKeys: 1, lua: GCRA_LUA });
    const redis = this.#redis as unknown as { nexusLimit: LimitCommand };
    this.#limit = redis.nexusLimit.bind(redis);
  }

  /** One EVALSHA (EVAL on NOSCRIPT) per call. */
  async check(bucket: string, limit: number): Promise<RateDecision> {
    const [allowed, remaining, resetMs, retryAfterMs] = await this.#limit(this.#prefix + bucket, limit, this.#windowMs);
    return { allowed: allowed === 1, limit, remaining, resetMs, retryAfterMs };
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
