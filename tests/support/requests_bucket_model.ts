/**
 * A reference model of one key's requests bucket with leases, as LIMIT_LUA (gateway/rate_limit_redis.ts) keeps it in
 * Redis, step for step, on a clock the test controls. Tests drive RequestLeases against it, and check the real script
 * against it.
 */
import type { LeaseCall, LeaseReply } from "../../gateway/rate_limit_lease.ts";
import { TOLERANCE_MS } from "../../gateway/rate_limit.ts";

/** A requests bucket of `limit` per `windowMs`, and the leases taken from it. */
export class RequestsBucketModel {
  /** The bucket's theoretical arrival time (at or before now: full). */
  tat = -Infinity;
  /** Live (and not yet noticed expired) leases by id. */
  readonly leases = new Map<string, { units: number; expiry: number }>();

  constructor(readonly limit: number, readonly windowMs: number) {}

  /** The remaining units a call would see at `now`, without changing anything. */
  peek(now: number): number {
    const copy = new RequestsBucketModel(this.limit, this.windowMs);
    copy.tat = this.tat;
    for (const [id, lease] of this.leases) copy.leases.set(id, { ...lease });
    return copy.call(now, { need: 0, want: 0, settle: "", giveBack: 0, carry: 0, lease: "", recordMs: 0 }).requests
      .remaining;
  }

  /** What LIMIT_LUA does for `call` at `now`, on the requests bucket alone. */
  call(now: number, call: LeaseCall): LeaseReply {
    const { limit, windowMs } = this;
    const span = (units: number) => units * windowMs / limit;
    let tat = this.tat < now ? now : this.tat;
    let live = 0;
    let all = 0;
    let expiredAt: number | undefined;
    for (const lease of this.leases.values()) {
      all += lease.units;
      if (lease.expiry > now) live += lease.units;
      else if (expiredAt === undefined || lease.expiry > expiredAt) expiredAt = lease.expiry;
    }
    if (expiredAt !== undefined) tat = Math.max(tat, expiredAt + span(all));
    tat = Math.max(tat, now + span(live));
    let carried = 0;
    for (const [id, lease] of this.leases) {
      if (lease.expiry <= now) this.leases.delete(id);
      else if (id === call.settle) {
        this.leases.delete(id);
        live -= lease.units;
        const giveBack = Math.min(call.giveBack, lease.units);
        carried = Math.min(call.carry, lease.units - giveBack);
        tat -= span(giveBack);
      }
    }
    tat = Math.max(tat, now + span(live + carried));
    const fits = (units: number) => tat + span(units) - windowMs - now <= TOLERANCE_MS;
    let room = Math.max(0, Math.min(call.want, Math.floor((windowMs - (tat - now)) * limit / windowMs)));
    while (room < call.want && fits(room + 1)) room++;
    while (room > 0 && !fits(room)) room--;
    const late = tat + span(call.need) - windowMs - now;
    const allowed = room >= call.need;
    const granted = allowed ? room : 0;
    let recorded = carried + granted;
    if (call.lease === "" || recorded <= (allowed ? call.need : 0)) recorded = 0;
    tat += span(granted);
    if (recorded > 0) this.leases.set(call.lease, { units: recorded, expiry: now + call.recordMs });
    this.tat = tat;
    const nextLate = tat + span(1) - windowMs - now;
    return {
      allowed,
      requests: {
        allowed: late <= TOLERANCE_MS,
        limit,
        remaining: Math.max(0, Math.floor((windowMs - (tat - now) + TOLERANCE_MS) / (windowMs / limit))),
        resetMs: Math.max(0, Math.ceil(tat - now)),
        retryAfterMs: late > TOLERANCE_MS ? Math.ceil(late) : 0,
      },
      granted,
      carried,
      recorded,
      nextMs: nextLate > TOLERANCE_MS ? Math.ceil(nextLate) : 0,
    };
  }
}
