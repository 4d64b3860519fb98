/** `least_request`: the power of two choices on the gateway's own in-flight count per endpoint. */
import type { Endpoint, EndpointSet } from "./endpoint_set.ts";
import { type Picker, type PickRequest, usable } from "./picker.ts";

/** Samples two usable endpoints at random and takes the one with fewer requests in flight. */
export class LeastRequestPicker implements Picker {
  readonly name = "least_request";
  readonly #set: EndpointSet;
  readonly #random: () => number;

  /** `random` is injectable so tests can use a seeded generator. */
  constructor(set: EndpointSet, options: { random?: () => number } = {}) {
    this.#set = set;
    this.#random = options.random ?? Math.random;
  }

  /** The less busy of two random usable endpoints (the first one on a tie). */
  pick(_request: PickRequest, exclude?: Endpoint): Endpoint | undefined {
    const endpoints = this.#set.endpoints;
    const now = this.#set.now();
    return this.#twoChoices(endpoints, { now, exclude, ejectedToo: false }) ??
      this.#twoChoices(endpoints, { now, exclude, ejectedToo: true });
  }

  #twoChoices(
    endpoints: readonly Endpoint[],
    ctx: { now: number; exclude?: Endpoint; ejectedToo: boolean },
  ): Endpoint | undefined {
    const n = endpoints.length;
    const first = firstUsable(endpoints, { ...ctx, from: Math.floor(this.#random() * n), skip: -1 });
    if (first < 0) return undefined;
    const a = endpoints[first];
    if (n === 1) return a;
    // The second choice starts at a random other index, so every pair is equally likely when all are usable.
    const from = (first + 1 + Math.floor(this.#random() * (n - 1))) % n;
    const second = firstUsable(endpoints, { ...ctx, from, skip: first });
    if (second < 0) return a;
    const b = endpoints[second];
    return b.inFlight < a.inFlight ? b : a;
  }
}

/** Index of the first usable endpoint at or after `from` (wrapping), other than index `skip`; -1 when none. */
function firstUsable(
  endpoints: readonly Endpoint[],
  ctx: { now: number; exclude?: Endpoint; ejectedToo: boolean; from: number; skip: number },
): number {
  const n = endpoints.length;
  for (let k = 0; k < n; k++) {
    const i = (ctx.from + k) % n;
    if (i !== ctx.skip && usable(endpoints[i], ctx)) return i;
  }
  return -1;
}
