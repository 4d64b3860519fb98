import assert from "node:assert/strict";
import fc from "fast-check";
import { RequestsBucketModel } from "../tests/support/requests_bucket_model.ts";
import type { LimitDecision, LimitedKey } from "./rate_limit.ts";
import { LEASE_GRACE_MS, type LeaseCall, type LeaseReply, RequestLeases } from "./rate_limit_lease.ts";
import { TOLERANCE_MS } from "./rate_limit.ts";

const WINDOW = 60_000;

/** A call on its way to the shared bucket. */
interface Pending {
  replica: number;
  call: LeaseCall;
  resolve: (reply: LeaseReply) => void;
  reject: (error: Error) => void;
}

/** Lets every promise continuation that is ready run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/**
 * Replicas with RequestLeases in front of one modelled shared bucket, on a clock the test moves: calls travel until the
 * test delivers them (then the bucket runs them at that moment), timers fire when the test lets time pass.
 */
class Cluster {
  now = 0;
  readonly model: RequestsBucketModel;
  readonly key: LimitedKey;
  readonly pending: Pending[] = [];
  readonly replicas: Array<{ leases: RequestLeases; dead: boolean }> = [];
  /** Times at which requests were admitted, every replica together. */
  readonly admitted: number[] = [];
  refused = 0;
  calls = 0;
  /** Every call's `want`, in the order sent. */
  readonly wants: number[] = [];
  #timers = new Map<number, { due: number; fn: () => void; replica: number }>();
  #timerId = 0;

  constructor(options: { limit: number; replicas: number; leaseMs: number; windowMs?: number }) {
    this.model = new RequestsBucketModel(options.limit, options.windowMs ?? WINDOW);
    this.key = { name: "k", rpm: options.limit, tpm: 0, tokensPerDay: 0 };
    for (let replica = 0; replica < options.replicas; replica++) {
      const leases = new RequestLeases({
        leaseMs: options.leaseMs,
        now: () => this.now,
        onError: () => {},
        timers: {
          set: (fn, ms) => {
            this.#timers.set(++this.#timerId, { due: this.now + ms, fn, replica });
            return this.#timerId;
          },
          clear: (id) => void this.#timers.delete(id),
        },
        call: (_key, call) => {
          this.calls++;
          this.wants.push(call.want);
          return new Promise((resolve, reject) => this.pending.push({ replica, call, resolve, reject }));
        },
      });
      this.replicas.push({ leases, dead: false });
    }
  }

  /** A request arrives at `replica`; its decision is recorded when it comes. */
  async request(replica: number): Promise<void> {
    if (this.replicas[replica].dead) return;
    const decision = this.replicas[replica].leases.admit(this.key);
    const record = (d: LimitDecision) => d.allowed ? this.admitted.push(this.now) : this.refused++;
    if (decision instanceof Promise) decision.then(record, () => {});
    else record(decision);
    await flush();
  }

  /** The shared bucket runs a pending call now; its replica gets the reply (unless it died). */
  async deliver(pick: number, fate: "answer" | "fail" | "lost" = "answer"): Promise<void> {
    if (this.pending.length === 0) return;
    const [call] = this.pending.splice(pick % this.pending.length, 1);
    const reply = fate === "fail" ? undefined : this.model.call(this.now, call.call); // "lost": ran, then timed out
    if (this.replicas[call.replica].dead) return;
    if (reply !== undefined && fate === "answer") call.resolve(reply);
    else call.reject(new Error("Command timed out"));
    await flush();
  }

  /** Time passes; timers due meanwhile fire in order. */
  async wait(ms: number): Promise<void> {
    const target = this.now + ms;
    while (true) {
      let next: [number, { due: number; fn: () => void; replica: number }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].due <= target && (!next || entry[1].due < next[1].due)) next = entry;
      }
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.now = Math.max(this.now, next[1].due);
      if (!this.replicas[next[1].replica].dead) next[1].fn();
      await flush();
    }
    this.now = target;
  }

  /** A replica dies: calls it sent still reach the bucket; it never answers nor returns anything again. */
  crash(replica: number): void {
    this.replicas[replica].dead = true;
    for (const call of this.pending.filter((p) => p.replica === replica)) this.model.call(this.now, call.call);
    this.pending.splice(0, this.pending.length, ...this.pending.filter((p) => p.replica !== replica));
  }

  /** Delivers every call until none is left. */
  async settle(): Promise<void> {
    while (this.pending.length > 0) await this.deliver(0);
  }

  /** The shared bucket's remaining units now, as a call sees it (expired leases counted spent). */
  remaining(): number {
    return this.model.call(this.now, { need: 0, want: 0, settle: "", giveBack: 0, carry: 0, lease: "", recordMs: 0 })
      .requests.remaining;
  }
}

type Step =
  | { kind: "wait"; ms: number }
  | { kind: "request"; replica: number; count: number }
  | { kind: "drain"; replica: number }
  | { kind: "deliver"; pick: number; fate: "answer" | "fail" | "lost" }
  | { kind: "crash"; replica: number };

const steps: fc.Arbitrary<Step[]> = fc.array(
  fc.oneof(
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 6000 }) }) },
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant("request" as const),
        replica: fc.nat(2),
        count: fc.integer({ min: 1, max: 120 }),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("deliver" as const),
        pick: fc.nat(),
        fate: fc.constantFrom(
          "answer" as const,
          "answer" as const,
          "answer" as const,
          "fail" as const,
          "lost" as const,
        ),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("drain" as const), replica: fc.nat(2) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("crash" as const), replica: fc.nat(2) }) },
  ),
  { maxLength: 80 },
);

Deno.test("leases across replicas never admit more than the bucket would: limit + span/(window/limit) in any span", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 400 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 50, max: 5000 }),
      steps,
      async (limit, replicas, leaseMs, list) => {
        const cluster = new Cluster({ limit, replicas, leaseMs });
        for (const step of list) {
          if (step.kind === "wait") await cluster.wait(step.ms);
          else if (step.kind === "request") {
            for (let i = 0; i < step.count; i++) await cluster.request(step.replica % replicas);
          } else if (step.kind === "drain") {
            // A client bursts at one replica, each answer before the next request, until it is refused.
            const refused = cluster.refused;
            for (let i = 0; i < 2 * limit && cluster.refused === refused; i++) {
              await cluster.request(step.replica % replicas);
              await cluster.settle();
            }
          } else if (step.kind === "deliver") await cluster.deliver(step.pick, step.fate);
          else if (cluster.replicas.filter((r) => !r.dead).length > 1) cluster.crash(step.replica % replicas);
          // The invariant behind it: the shared bucket and the units live replicas hold unspent never exceed the limit.
          const held = cluster.replicas.reduce((sum, r) => sum + (r.dead ? 0 : r.leases.held("k")), 0);
          assert.ok(
            cluster.model.peek(cluster.now) + held <= limit,
            `${held} held, ${cluster.model.peek(cluster.now)} left`,
          );
        }
        await cluster.settle();
        const times = cluster.admitted.toSorted((a, b) => a - b);
        const unit = WINDOW / limit;
        for (let i = 0; i < times.length; i++) {
          for (let j = i; j < times.length; j++) {
            const allowed = limit + (times[j] - times[i] + TOLERANCE_MS) / unit;
            assert.ok(j - i + 1 <= allowed, `${j - i + 1} admitted in [${times[i]}, ${times[j]}], at most ${allowed}`);
          }
        }
        // Nothing is lost for good: once every lease is returned or expired, a window later the budget is whole.
        await cluster.wait(leaseMs + LEASE_GRACE_MS + 1);
        await cluster.settle();
        await cluster.wait(WINDOW);
        assert.equal(cluster.remaining(), limit);
        assert.equal(cluster.model.leases.size, 0);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("leased units stay taken while the lease lives: the shared bucket does not refill them meanwhile", async () => {
  const limit = 120; // one back every 500 ms
  const cluster = new Cluster({ limit, replicas: 2, leaseMs: 5000 });
  for (let i = 0; i < 3; i++) await cluster.request(0);
  await cluster.settle();
  const held = cluster.replicas[0].leases.held("k");
  assert.ok(held >= 10, `replica 0 holds ${held}`);
  await cluster.wait(4000); // 8 units refill; the lease is still spendable
  const before = cluster.admitted.length;
  for (let i = 0; i < held; i++) await cluster.request(0);
  for (let i = 0; i < 4 * limit; i++) {
    await cluster.request(i % 2);
    await cluster.settle();
  }
  const burst = cluster.admitted.length - before;
  assert.ok(burst <= limit, `${burst} admitted at one instant; a bucket of ${limit} admits at most ${limit}`);
  assert.ok(burst >= limit - 3 - held, `${burst} admitted: the refill came back`);
});

Deno.test("a burst on one replica shares one lease call: the first request calls alone, the rest wait on one lease", async () => {
  const cluster = new Cluster({ limit: 100_000, replicas: 1, leaseMs: 1000 });
  for (let i = 0; i < 50; i++) await cluster.request(0);
  assert.equal(cluster.pending.length, 2, "one call for the first request, one lease for the 49 that came meanwhile");
  await cluster.settle();
  assert.equal(cluster.admitted.length, 50);
  for (let i = 0; i < 500; i++) await cluster.request(0);
  await cluster.settle();
  assert.equal(cluster.admitted.length, 550);
  assert.ok(cluster.calls <= 4, `${cluster.calls} calls for 550 requests`);
});

Deno.test("near the end of the budget every request is its own call, and exactly the budget is admitted", async () => {
  const limit = 200;
  const cluster = new Cluster({ limit, replicas: 2, leaseMs: 1000 });
  let refusedWithoutCall = 0;
  for (let i = 0; i < 260; i++) {
    const [calls, refused] = [cluster.calls, cluster.refused];
    await cluster.request(i % 2);
    await cluster.settle();
    if (cluster.refused > refused && cluster.calls === calls) refusedWithoutCall++;
  }
  assert.equal(cluster.admitted.length, limit, "the whole budget, not one more");
  assert.equal(cluster.refused, 60);
  assert.equal(refusedWithoutCall, 0, "a refusal is always Redis's answer");
  assert.ok(cluster.wants.some((want) => want > 1), "leases while much was left");
  // The tail: once a replica heard fewer than 2 * LEASE_SHARE left, it asks for one unit per request.
  const tail = cluster.wants.slice(cluster.wants.findLastIndex((want) => want > 1) + 1);
  assert.ok(tail.length >= 60 + 10, `${tail.length} single calls at the end`);
});

Deno.test("an unspent lease is given back when it expires unrenewed, and on close; then another replica can use it", async () => {
  const limit = 1000;
  const cluster = new Cluster({ limit, replicas: 2, leaseMs: 1000, windowMs: 1e9 }); // no refill to speak of
  for (let i = 0; i < 3; i++) await cluster.request(0);
  await cluster.settle();
  const held = cluster.replicas[0].leases.held("k");
  assert.ok(held > 0, "replica 0 holds a lease");
  assert.equal(cluster.remaining(), limit - 3 - held, "its units are taken from the shared bucket");
  await cluster.wait(1000); // the lease expires: replica 0 gives back what it did not spend
  await cluster.settle();
  assert.equal(cluster.replicas[0].leases.held("k"), 0);
  assert.equal(cluster.remaining(), limit - 3);

  for (let i = 0; i < 3; i++) await cluster.request(1);
  await cluster.settle();
  assert.ok(cluster.replicas[1].leases.held("k") > 0);
  const closing = cluster.replicas[1].leases.close();
  await flush();
  await cluster.settle();
  await closing;
  assert.equal(cluster.remaining(), limit - 6, "closed: replica 1 gave its lease back");
  assert.equal(cluster.model.leases.size, 0);
});

Deno.test("with the shared bucket unreachable a held lease stays spendable until it expires, then requests fail", async () => {
  const cluster = new Cluster({ limit: 10_000, replicas: 1, leaseMs: 1000 });
  for (let i = 0; i < 3; i++) await cluster.request(0);
  await cluster.settle();
  const held = cluster.replicas[0].leases.held("k");
  assert.ok(held > 10);
  let failed = 0;
  const ask = async () => {
    const decision = cluster.replicas[0].leases.admit(cluster.key);
    if (decision instanceof Promise) {
      const settled = decision.then((d) => d.allowed, () => (failed++, false));
      while (cluster.pending.length > 0) await cluster.deliver(0, "fail");
      return await settled;
    }
    return decision.allowed;
  };
  for (let i = 0; i < held; i++) assert.equal(await ask(), true, "served from the lease, no call");
  assert.equal(failed, 0);
  await cluster.wait(1000);
  while (cluster.pending.length > 0) await cluster.deliver(0, "fail"); // the return fails too
  assert.equal(await ask(), false);
  assert.equal(failed, 1, "past the lease, a request needs Redis and its call fails (fail open/closed decides)");
});
