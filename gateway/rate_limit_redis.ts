/** The Redis limiter: one atomic Lua script per request, shared by every gateway replica. */
import { Redis } from "ioredis";
import type { RateDecision, RateLimiter } from "./rate_limit.ts";
import { WINDOW_MS } from "./rate_limit.ts";

/**
 * Sliding-window log in a sorted set, timed by the Redis server clock so replicas agree.
 * KEYS[1] bucket; ARGV limit, window ms, unique member. Returns {allowed, remaining, resetMs}.
 */
export const SLIDING_WINDOW_LUA = `
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
  count = count + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, limit - count, reset}
`;

type LimitCommand = (key: string, limit: number, windowMs: number, member: string) => Promise<[number, number, number]>;

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
  readonly #memberPrefix = crypto.randomUUID().slice(0, 8);
  #sequence = 0;

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
    });
    this.#redis.on("error", options.onError);
    this.#redis.defineCommand("nexusLimit", { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA });
    const redis = this.#redis as unknown as { nexusLimit: LimitCommand };
    this.#limit = redis.nexusLimit.bind(redis);
  }

  /** One EVALSHA (EVAL on NOSCRIPT) per call. */
  async check(bucket: string, limit: number): Promise<RateDecision> {
    const member = `${this.#memberPrefix}:${this.#sequence++}`;
    const [allowed, remaining, reset] = await this.#limit(this.#prefix + bucket, limit, this.#windowMs, member);
    return { allowed: allowed === 1, limit, remaining, resetMs: reset };
  }

  /** True while connected. */
  usable(): boolean {
    return this.#redis.status === "ready";
  }

  /** Resolves once connected (tests and startup logs). */
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
