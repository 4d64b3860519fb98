/** The Redis limiter: one atomic Lua script per admission or per lease, shared by every gateway replica. */
import { Redis } from "ioredis";
import { type LeaseCall, type LeaseReply, RequestLeases } from "./rate_limit_lease.ts";
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
 * ARGV[2]: `leased` when bucket 1 is a requests bucket with leases (rate_limit_lease.ts): then the last key is its
 * leases, a sorted set of members `<units>|<lease id>` scored by their expiry, and the last six arguments say what
 * this call does with them; anything else: no leases.
 * ARGV[3i], ARGV[3i+1], ARGV[3i+2]: bucket i's limit (units per window), window (ms) and cost (units; for the leased
 * bucket, the units needed at once: 1, or 0 to renew or return a lease).
 * Lease arguments, which a call for one unit leaves out: want (units to take at most, at least the cost), the id of the
 * lease to settle (or ''), units of it given back, units of it carried into the new lease, the new lease's id (or ''),
 * and how long Redis keeps it (ms).
 *
 * Leased units stay taken until their lease is settled or expires, however long ago they were leased: the requests
 * bucket never holds more than its limit less the units live leases hold, so what it holds plus what replicas hold
 * unspent never exceeds the limit. Settling gives back what the replica gives back and charges what it spent as of
 * now; an expired lease counts as spent when it expired. Then up to `want` units are granted (at least the cost, or
 * the call is refused and takes nothing); what the caller keeps beyond the cost, carried and granted, is recorded as
 * the new lease.
 *
 * Returns {allowed, then per bucket: fits, remaining, reset_ms, retry_after_ms} for admit, followed when lease
 * arguments were given by {granted, carried, recorded (units of the new lease, 0: none), next_ms (until one more unit
 * fits)}; {1} for adjust.
 */
export const LIMIT_LUA = `
local tolerance = ${TOLERANCE_MS}
local admit = ARGV[1] == 'admit'
local leased = ARGV[2] == 'leased'
local buckets = leased and #KEYS - 1 or #KEYS
local lease_args = leased and #ARGV > 3 * buckets + 2
local t = redis.call('TIME')
-- milliseconds since 2023-11-14 (not 1970) keep sub-microsecond precision in a double
local now = (tonumber(t[1]) - 1700000000) * 1000 + tonumber(t[2]) / 1000
local limit, window, cost, tat, nxt = {}, {}, {}, {}, {}
for i = 1, buckets do
  limit[i] = tonumber(ARGV[3 * i])
  window[i] = tonumber(ARGV[3 * i + 1])
  cost[i] = tonumber(ARGV[3 * i + 2])
  local stored = tonumber(redis.call('GET', KEYS[i]))
  if stored == nil or stored < now then tat[i] = now else tat[i] = stored end
end
local want, room, granted, carried, recorded, live, entries = 0, 0, 0, 0, 0, 0, {}
local leases, lease_id, record_ms
if leased then
  local a, w, l = 3 * buckets + 3, window[1], limit[1]
  want, lease_id, record_ms = cost[1], '', 0
  if lease_args then want, lease_id, record_ms = tonumber(ARGV[a]), ARGV[a + 4], tonumber(ARGV[a + 5]) end
  leases = KEYS[buckets + 1]
  entries = redis.call('ZRANGE', leases, 0, -1, 'WITHSCORES')
  if #entries > 0 then
    local settle, give_back, carry = '', 0, 0
    if lease_args then settle, give_back, carry = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]) end
    local all, expired_at = 0, nil
    for j = 1, #entries, 2 do
      local units, expiry = tonumber(string.match(entries[j], '^(%d+)|')), tonumber(entries[j + 1])
      all = all + units
      if expiry > now then
        live = live + units
      elseif expired_at == nil or expiry > expired_at then
        expired_at = expiry
      end
    end
    -- an expired lease was spent by its expiry; a live one holds its units now
    if expired_at ~= nil and tat[1] < expired_at + all * w / l then tat[1] = expired_at + all * w / l end
    if tat[1] < now + live * w / l then tat[1] = now + live * w / l end
    for j = 1, #entries, 2 do
      local units, id = string.match(entries[j], '^(%d+)|(.*)$')
      units = tonumber(units)
      if tonumber(entries[j + 1]) <= now then
        redis.call('ZREM', leases, entries[j])
      elseif id == settle then
        redis.call('ZREM', leases, entries[j])
        live = live - units
        give_back = math.min(give_back, units)
        carried = math.min(carry, units - give_back)
        tat[1] = tat[1] - give_back * w / l
      end
    end
    if tat[1] < now + (live + carried) * w / l then tat[1] = now + (live + carried) * w / l end
  end
  -- the most of want that fits (the estimate is off by a float rounding step at most)
  local t1 = tat[1]
  room = math.floor((w - (t1 - now)) * l / w)
  if room > want then room = want end
  if room < 0 then room = 0 end
  while room < want and t1 + (room + 1) * w / l - w - now <= tolerance do room = room + 1 end
  while room > 0 and t1 + room * w / l - w - now > tolerance do room = room - 1 end
end
local allowed = 1
for i = 1, buckets do
  nxt[i] = tat[i] + cost[i] * window[i] / limit[i]
  if leased and i == 1 then
    if room < cost[1] then allowed = 0 end
  elseif admit and nxt[i] - window[i] - now > tolerance then
    allowed = 0
  end
end
local out = {allowed}
for i = 1, buckets do
  local late = nxt[i] - window[i] - now
  if leased and i == 1 then
    if allowed == 1 then granted = room end
    recorded = carried + granted
    if lease_id == '' or recorded <= (allowed == 1 and cost[1] or 0) then recorded = 0 end
    tat[1] = tat[1] + granted * window[1] / limit[1]
    if recorded > 0 then
      redis.call('ZADD', leases, string.format('%.17g', now + record_ms), string.format('%d|%s', recorded, lease_id))
      -- kept until the units of its leases, counted spent at their expiry, would have refilled: a call in between
      -- must still find an expired lease to charge it
      local keep = math.ceil(record_ms + (live + recorded) * window[1] / limit[1])
      if redis.call('PTTL', leases) < keep then redis.call('PEXPIRE', leases, keep) end
    end
    if granted == 0 and #entries == 0 then -- unchanged
    elseif tat[1] > now then
      redis.call('SET', KEYS[1], string.format('%.17g', tat[1]), 'PX', math.max(1, math.ceil(tat[1] - now)))
    else
      redis.call('DEL', KEYS[1])
    end
  elseif allowed == 1 then
    tat[i] = nxt[i]
    if nxt[i] > now then
      redis.call('SET', KEYS[i], string.format('%.17g', nxt[i]), 'PX', math.max(1, math.ceil(nxt[i] - now)))
    else
      redis.call('DEL', KEYS[i])
    end
  end
  if admit then
    local remaining = math.floor((window[i] - (tat[i] - now) + tolerance) / (window[i] / limit[i]))
    out[#out + 1] = late > tolerance and 0 or 1
    out[#out + 1] = math.max(0, remaining)
    out[#out + 1] = math.max(0, math.ceil(tat[i] - now))
    out[#out + 1] = late > tolerance and math.ceil(late) or 0
  end
end
if lease_args then
  local next_late = tat[1] + window[1] / limit[1] - window[1] - now
  out[#out + 1] = granted
  out[#out + 1] = carried
  out[#out + 1] = recorded
  out[#out + 1] = next_late > tolerance and math.ceil(next_late) or 0
end
return out
`;

/** The script as a command: key count, the keys, then mode, lease flag and each bucket's limit, window and cost. */
type LimitCommand = (...keyCountKeysThenArgs: Array<string | number>) => Promise<number[]>;

/** The Redis keys of one API key's buckets, and of its requests bucket's leases. */
interface BucketNames {
  rpm: string;
  leases: string;
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

/** A request's own call: one unit, no lease (the script's lease arguments left out). */
const ONE_REQUEST: LeaseCall = { need: 1, want: 1, settle: "", giveBack: 0, carry: 0, lease: "", recordMs: 0 };

/** Options of the Redis limiter. */
export interface RedisLimiterOptions extends Windows {
  /** Command and connect timeout in milliseconds: a dead Redis costs at most this much per request. */
  timeoutMs: number;
  /** Called on every failed command or connection error (log and count it). */
  onError: (error: Error) => void;
  /** Requests-per-minute leases: how long a replica may spend one (ms); 0: one call per request. */
  leaseMs?: number;
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
  readonly #leases: RequestLeases | undefined;

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
    const leaseMs = options.leaseMs ?? 0;
    this.#leases = leaseMs > 0
      ? new RequestLeases({ leaseMs, onError: options.onError, call: (key, call) => this.lease(key, call) })
      : undefined;
  }

  /**
   * A request without tokens, of a key with a requests budget: from this replica's lease when leases are on
   * (rate_limit_lease.ts). Otherwise one EVALSHA (EVAL on NOSCRIPT) for every budget the request is charged.
   */
  admit(key: LimitedKey, tokens: number): Promise<LimitDecision> | LimitDecision {
    if (tokens === 0 && key.rpm > 0 && this.#leases !== undefined) return this.#leases.admit(key);
    return this.#admitOnce(key, tokens);
  }

  async #admitOnce(key: LimitedKey, tokens: number): Promise<LimitDecision> {
    const rpm = key.rpm > 0;
    const tpm = tokens !== 0 && key.tpm > 0;
    const tpd = tokens !== 0 && key.tokensPerDay > 0;
    const decision: LimitDecision = { allowed: true, requests: undefined, tokens: undefined, tokensPerDay: undefined };
    if (!rpm && !tpm && !tpd) return decision;
    const reply = await this.#script(key, { rpm, tpm, tpd, tokens, lease: ONE_REQUEST });
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

  /** One script call on a key's requests bucket alone: takes, renews or returns a lease (RequestLeases calls it). */
  async lease(key: LimitedKey, lease: LeaseCall): Promise<LeaseReply> {
    const reply = await this.#script(key, { rpm: true, tpm: false, tpd: false, tokens: 0, lease });
    return {
      allowed: reply[0] === 1,
      requests: replyDecision(reply, { at: 1, limit: key.rpm }),
      granted: reply[5],
      carried: reply[6],
      recorded: reply[7],
      nextMs: reply[8],
    };
  }

  /**
   * The script over the buckets named: admit when `lease` is given (with the requests bucket's leases when `rpm`),
   * else adjust. Bucket order: rpm, tpm, tpd.
   */
  #script(
    key: LimitedKey,
    ctx: { rpm: boolean; tpm: boolean; tpd: boolean; tokens: number; lease: LeaseCall | undefined },
  ): Promise<number[]> {
    const { rpm, tpm, tpd, tokens, lease } = ctx;
    const { windowMs, dayMs } = this.#windows;
    const names = this.#names(key.name);
    const leased = rpm && lease !== undefined;
    const keys: string[] = [];
    if (rpm) keys.push(names.rpm);
    if (tpm) keys.push(names.tpm);
    if (tpd) keys.push(names.tpd);
    if (leased) keys.push(names.leases);
    const argv: Array<string | number> = [keys.length, ...keys, lease === undefined ? "adjust" : "admit"];
    argv.push(leased ? "leased" : "plain");
    if (rpm) argv.push(key.rpm, windowMs, lease?.need ?? 1);
    if (tpm) argv.push(key.tpm, windowMs, tokens);
    if (tpd) argv.push(key.tokensPerDay, dayMs, tokens);
    if (leased && lease !== ONE_REQUEST) {
      argv.push(lease.want, lease.settle, lease.giveBack, lease.carry, lease.lease, lease.recordMs);
    }
    return this.#limit(...argv);
  }

  /** One EVALSHA adding `tokens` to the key's token budgets (none when it has no token budget). */
  async adjust(key: LimitedKey, tokens: number): Promise<void> {
    const tpm = key.tpm > 0;
    const tpd = key.tokensPerDay > 0;
    if (tokens === 0 || (!tpm && !tpd)) return;
    await this.#script(key, { rpm: false, tpm, tpd, tokens, lease: undefined });
  }

  /** The Redis keys of a key's buckets, made once per key name. */
  #names(name: string): BucketNames {
    let names = this.#bucketNames.get(name);
    if (names === undefined) {
      const base = `${this.#prefix}{${name}}:`; // the hash tag keeps a key's buckets in one cluster slot
      names = { rpm: `${base}rpm`, leases: `${base}rpm:leases`, tpm: `${base}tpm`, tpd: `${base}tpd` };
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

  /** Units of `name` this replica holds in a lease, spendable without a call (0 with leases off). */
  held(name: string): number {
    return this.#leases?.held(name) ?? 0;
  }

  /** Returns the leases this replica holds, then disconnects. */
  async close(): Promise<void> {
    await this.#leases?.close();
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }
}
