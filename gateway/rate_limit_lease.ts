/**
 * Requests-per-minute leases (README, "Requests per minute across replicas"): a replica takes a slice of a key's
 * requests budget from Redis in one script call and admits requests from it locally, without a round trip; it gives
 * back what it did not spend.
 *
 * Leased units are taken from the shared bucket when they are leased and stay taken until the lease is settled
 * (rate_limit_redis.ts, LIMIT_LUA), so the bucket plus the units replicas hold unspent never exceed the limit: leases
 * never admit more than the budget; they only make other replicas see less of it meanwhile. Per key and replica:
 * - at most one call owns the key's lease at a time (it settles the lease held and takes the next one); requests that
 *   find no unit left while it is in flight wait for it, up to the units it asked for beyond its own need, so a burst
 *   shares one call and no request waits for more than one round trip; requests beyond that call one by one;
 * - a lease is sized by demand (this replica's recent request rate times half the lease time) and by what is left (at
 *   most 1/LEASE_SHARE of the shared remaining as of the last call); below 2 units there is no lease, one call per
 *   request, as without leases;
 * - a lease is renewed before it runs out (its unspent units carried into the next one), and returned when it expires
 *   unrenewed (idle) and on close; a replica that dies holding one loses it to Redis's expiry, as spent.
 */
import type { LimitDecision, LimitedKey, RateDecision } from "./rate_limit.ts";

/** A lease takes at most 1/LEASE_SHARE of the key's requests left in the shared bucket. */
export const LEASE_SHARE = 8;
/** Redis keeps a lease this much longer than its replica may spend it, so a return sent at expiry still finds it. */
export const LEASE_GRACE_MS = 1000;
/** A lease is renewed once its unspent units fall to this share of it. */
const RENEW_AT = 1 / 4;

/** One script call on a key's requests bucket (LIMIT_LUA's lease arguments). */
export interface LeaseCall {
  /** Units needed at once: 1 (a request waits on the call) or 0 (renewing or returning a lease). */
  need: number;
  /** Units to take at most (at least `need`); what is taken beyond `need` is held as a lease. */
  want: number;
  /** Id of the lease this call settles, or "". */
  settle: string;
  /** Units of the settled lease given back. */
  giveBack: number;
  /** Units of the settled lease carried into the new one. */
  carry: number;
  /** Id of the new lease, or "" (then nothing beyond `need` may be taken). */
  lease: string;
  /** How long Redis keeps the new lease before counting it spent (ms). */
  recordMs: number;
}

/** The answer to a LeaseCall. */
export interface LeaseReply {
  /** `need` was taken (always, when it is 0). */
  allowed: boolean;
  /** The shared requests bucket after the call: remaining, reset and (for `need`) retry after. */
  requests: RateDecision;
  /** Units taken, `need` included (0 when refused). */
  granted: number;
  /** Units of the settled lease that are now in the new one (0 when Redis had already expired it). */
  carried: number;
  /** Units of the new lease (carried + granted), 0 when none was recorded. */
  recorded: number;
  /** Milliseconds until one more unit fits in the shared bucket. */
  nextMs: number;
}

/** Sends one LeaseCall to the shared bucket of `key`; rejects when the store fails. */
export type LeaseTransport = (key: LimitedKey, call: LeaseCall) => Promise<LeaseReply>;

/** Timers, injectable for tests. */
export interface LeaseTimers {
  /** Calls `fn` after `ms` without keeping the process alive. */
  set(fn: () => void, ms: number): number;
  /** Cancels a timer. */
  clear(id: number): void;
}

const TIMERS: LeaseTimers = {
  set(fn, ms) {
    const id = setTimeout(fn, ms) as unknown as number; // Deno's timer id (node's types say Timeout)
    Deno.unrefTimer(id);
    return id;
  },
  clear: (id) => clearTimeout(id),
};

/** Options of {@linkcode RequestLeases}. */
export interface RequestLeasesOptions {
  /** How long a replica may spend a lease (ms); Redis keeps it LEASE_GRACE_MS longer. */
  leaseMs: number;
  /** The script call. */
  call: LeaseTransport;
  /** A renewal or return failed (a request's own call rejects instead). */
  onError: (error: Error) => void;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Timers (default setTimeout, unref'd). */
  timers?: LeaseTimers;
}

/** The call that owns a key's lease, while in flight. */
interface Flight {
  /** Requests that may still wait on it for a unit. */
  slots: number;
  /** Settles once the reply is applied to the ledger. */
  applied: Promise<LeaseReply>;
}

/** One key's lease on this replica, and what it last heard of the shared bucket. */
interface Ledger {
  key: LimitedKey;
  /** Id of the lease held in Redis, or undefined. */
  lease: string | undefined;
  /** Units of that lease. */
  size: number;
  /** Units of it spent (admitted requests). */
  spent: number;
  /** Spendable until then (local clock). */
  expiresAt: number;
  /** The shared bucket's remaining units after the last call. */
  shared: number;
  /** When the shared bucket is full again, per the last call (local clock). */
  resetAt: number;
  /** When one more unit fits in the shared bucket, per the last call (local clock). */
  nextAt: number;
  /** The call that owns the lease, while in flight. */
  owner: Flight | undefined;
  /** Requests since `since`: this replica's demand for the key. */
  arrivals: number;
  since: number;
  timer: number | undefined;
}

/** Leases of requests-per-minute budgets, one ledger per key name. */
export class RequestLeases {
  readonly #ledgers = new Map<string, Ledger>();
  readonly #leaseMs: number;
  readonly #call: LeaseTransport;
  readonly #onError: (error: Error) => void;
  readonly #now: () => number;
  readonly #timers: LeaseTimers;
  readonly #prefix = crypto.randomUUID();
  #counter = 0;
  #closed = false;

  constructor(options: RequestLeasesOptions) {
    this.#leaseMs = options.leaseMs;
    this.#call = options.call;
    this.#onError = options.onError;
    this.#now = options.now ?? (() => performance.now());
    this.#timers = options.timers ?? TIMERS;
  }

  /** Admits one request of `key` (which has an rpm budget): from the lease when it has a unit, else by a call. */
  admit(key: LimitedKey): LimitDecision | Promise<LimitDecision> {
    const now = this.#now();
    const ledger = this.#ledger(key, now);
    if (now - ledger.since > this.#leaseMs) {
      ledger.arrivals = 0;
      ledger.since = now;
    }
    ledger.arrivals++;
    if (this.#spend(ledger, now)) {
      if (ledger.owner === undefined && ledger.size - ledger.spent <= ledger.size * RENEW_AT) this.#renew(ledger, now);
      return this.#admitted(ledger, now);
    }
    const owner = ledger.owner;
    if (owner !== undefined && owner.slots > 0) {
      owner.slots--;
      return owner.applied.then(() => this.#afterWait(ledger));
    }
    const want = this.#want(ledger, now);
    if (owner === undefined && (want >= 2 || ledger.lease !== undefined)) {
      return this.#own(ledger, { now, need: 1, want }).then((reply) => this.#decision(ledger, reply));
    }
    return this.#single(ledger);
  }

  /** Units of `name` this replica may still admit from its lease, without a call. */
  held(name: string): number {
    const ledger = this.#ledgers.get(name);
    return ledger === undefined ? 0 : this.#unspent(ledger, this.#now());
  }

  /** Returns every lease held (waiting for calls in flight first); later requests call one by one. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#ledgers.values()].map(async (ledger) => {
      if (ledger.timer !== undefined) this.#timers.clear(ledger.timer);
      ledger.timer = undefined;
      await ledger.owner?.applied.catch(() => {});
      if (ledger.lease !== undefined && ledger.owner === undefined) {
        await this.#own(ledger, { now: this.#now(), need: 0, want: 0 }).catch((error) => this.#onError(error));
      }
    }));
  }

  #ledger(key: LimitedKey, now: number): Ledger {
    let ledger = this.#ledgers.get(key.name);
    if (ledger === undefined) {
      ledger = {
        key,
        lease: undefined,
        size: 0,
        spent: 0,
        expiresAt: 0,
        shared: key.rpm,
        resetAt: now,
        nextAt: now,
        owner: undefined,
        arrivals: 0,
        since: now,
        timer: undefined,
      };
      this.#ledgers.set(key.name, ledger);
    }
    return ledger;
  }

  /** Units of the lease still spendable. */
  #unspent(ledger: Ledger, now: number): number {
    return ledger.lease === undefined || now >= ledger.expiresAt ? 0 : ledger.size - ledger.spent;
  }

  /** Takes a unit of the lease when it has one and has not expired. */
  #spend(ledger: Ledger, now: number): boolean {
    if (this.#unspent(ledger, now) <= 0) return false;
    ledger.spent++;
    return true;
  }

  /**
   * Units the next lease asks for: this replica's demand over half a lease (its request rate since the last call,
   * which a lone request does not show), at most 1/LEASE_SHARE of the shared remaining; 1 (no lease) below 2.
   */
  #want(ledger: Ledger, now: number): number {
    const share = Math.floor(ledger.shared / LEASE_SHARE);
    if (this.#closed || share < 2 || ledger.arrivals < 2) return 1;
    const demand = Math.ceil(ledger.arrivals * (this.#leaseMs / 2) / Math.max(1, now - ledger.since));
    return Math.max(1, Math.min(share, demand));
  }

  /** Renews a lease that is running out, in the background; its unspent units are carried into the next. */
  #renew(ledger: Ledger, now: number): void {
    const want = this.#want(ledger, now);
    if (want < 2) return; // it runs out, then requests call one by one (and settle it)
    this.#own(ledger, { now, need: 0, want }).catch((error) => this.#onError(error));
  }

  /**
   * The owning call: settles the lease held (carrying its unspent units when it is still spendable and a lease
   * follows, else giving them back) and takes up to `want` units, `need` of them at once.
   */
  #own(ledger: Ledger, ctx: { now: number; need: number; want: number }): Promise<LeaseReply> {
    const { now, need, want } = ctx;
    const unspent = ledger.lease === undefined ? 0 : Math.max(0, ledger.size - ledger.spent);
    const keep = want >= 2 && now < ledger.expiresAt;
    const lease = want > need || (keep && unspent > 0) ? `${this.#prefix}:${++this.#counter}` : "";
    const call: LeaseCall = {
      need,
      want,
      settle: ledger.lease ?? "",
      giveBack: keep ? 0 : unspent,
      carry: keep ? unspent : 0,
      lease,
      recordMs: this.#leaseMs + LEASE_GRACE_MS,
    };
    const spentAtSend = ledger.spent;
    ledger.arrivals = 0;
    ledger.since = now;
    const applied = this.#call(ledger.key, call).then(
      (reply) => {
        ledger.owner = undefined;
        this.#heard(ledger, reply);
        if (reply.recorded > 0) {
          // Units spent while the call was in flight came from the carried ones, when Redis still had them.
          const spentSince = reply.carried > 0 ? ledger.spent - spentAtSend : 0;
          this.#hold(ledger, { lease, size: reply.recorded, spent: spentSince + (reply.allowed ? need : 0), now });
        } else {
          this.#drop(ledger);
        }
        return reply;
      },
      (error) => {
        ledger.owner = undefined;
        if (this.#now() >= ledger.expiresAt) this.#drop(ledger); // Redis counts it spent when it expires
        throw error;
      },
    );
    ledger.owner = { slots: want - need, applied };
    return applied;
  }

  /** One request, one call, no lease: as without leases. */
  async #single(ledger: Ledger): Promise<LimitDecision> {
    const call: LeaseCall = {
      need: 1,
      want: 1,
      settle: "",
      giveBack: 0,
      carry: 0,
      lease: "",
      recordMs: this.#leaseMs + LEASE_GRACE_MS,
    };
    const reply = await this.#call(ledger.key, call);
    this.#heard(ledger, reply);
    return this.#decision(ledger, reply);
  }

  /** Records what a reply said of the shared bucket. */
  #heard(ledger: Ledger, reply: LeaseReply): void {
    const now = this.#now();
    ledger.shared = reply.requests.remaining;
    ledger.resetAt = now + reply.requests.resetMs;
    ledger.nextAt = now + reply.nextMs;
  }

  #hold(ledger: Ledger, held: { lease: string; size: number; spent: number; now: number }): void {
    ledger.lease = held.lease;
    ledger.size = held.size;
    ledger.spent = held.spent;
    ledger.expiresAt = held.now + this.#leaseMs;
    if (ledger.timer !== undefined) this.#timers.clear(ledger.timer);
    ledger.timer = this.#closed ? undefined : this.#timers.set(() => this.#expire(ledger), this.#leaseMs);
  }

  #drop(ledger: Ledger): void {
    ledger.lease = undefined;
    ledger.size = 0;
    ledger.spent = 0;
    if (ledger.timer !== undefined) this.#timers.clear(ledger.timer);
    ledger.timer = undefined;
  }

  /** The lease's time is up and it was not renewed (the key went idle here): give back what is left. */
  #expire(ledger: Ledger): void {
    ledger.timer = undefined;
    if (ledger.lease === undefined || ledger.owner !== undefined) return; // the owner in flight settles it
    this.#own(ledger, { now: this.#now(), need: 0, want: 0 }).catch((error) => this.#onError(error));
  }

  /** A request that waited on the owning call: a unit of the new lease, or refused when Redis had no more. */
  #afterWait(ledger: Ledger): LimitDecision {
    const now = this.#now();
    if (this.#spend(ledger, now)) return this.#admitted(ledger, now);
    return {
      allowed: false,
      requests: {
        allowed: false,
        limit: ledger.key.rpm,
        remaining: ledger.shared,
        resetMs: Math.max(0, Math.ceil(ledger.resetAt - now)),
        retryAfterMs: Math.max(1, Math.ceil(ledger.nextAt - now)),
      },
      tokens: undefined,
      tokensPerDay: undefined,
    };
  }

  /** The decision of the request whose own call was answered. */
  #decision(ledger: Ledger, reply: LeaseReply): LimitDecision {
    const requests = reply.requests;
    if (reply.allowed) requests.remaining += this.#unspent(ledger, this.#now());
    return { allowed: reply.allowed, requests, tokens: undefined, tokensPerDay: undefined };
  }

  /** Admitted from the lease: remaining is the shared remaining as of the last call plus the lease's unspent units. */
  #admitted(ledger: Ledger, now: number): LimitDecision {
    return {
      allowed: true,
      requests: {
        allowed: true,
        limit: ledger.key.rpm,
        remaining: ledger.shared + ledger.size - ledger.spent,
        resetMs: Math.max(0, Math.ceil(ledger.resetAt - now)),
        retryAfterMs: 0,
      },
      tokens: undefined,
      tokensPerDay: undefined,
    };
  }
}
