/**
 * What every endpoint picker offers, and the load estimate the `load` and `prefix` pickers share. A picker chooses one
 * endpoint of one upstream per attempt; given the endpoint that just failed, it chooses the retry target.
 */
import type { Endpoint } from "./endpoint_set.ts";
import type { Operation } from "./operations.ts";
import type { PickerName } from "./route_policy.ts";

/** What a picker may look at in a request. */
export interface PickRequest {
  /** The request body as sent upstream (the `prefix` picker hashes its prompt). */
  readonly body: Uint8Array;
  /** The API operation: where in the body its prompt is. */
  readonly operation: Operation;
  /** The session header's value, when GATEWAY_SESSION_HEADER is set and the client sent it. */
  readonly session?: string | null;
}

/** Chooses an endpoint of one upstream. */
export interface Picker {
  /** The picker's GATEWAY_PICKER name. */
  readonly name: PickerName;
  /**
   * The endpoint for this attempt, never `exclude` (the endpoint that just failed: this is the retry target).
   * Ejected endpoints are skipped while another one can serve; when all are ejected they are chosen anyway, so a
   * request is never refused for ejection alone. Undefined when no endpoint is left (none listed, or only `exclude`).
   */
  pick(request: PickRequest, exclude?: Endpoint): Endpoint | undefined;
}

/** Weight of a queued request against a running one in the load estimate. */
export const WAITING_WEIGHT = 2;
/** What a full KV cache adds to the load estimate, in requests. */
export const KV_WEIGHT = 4;

/**
 * An endpoint's load in requests, lower is better. From a fresh scrape (arrived at or after `freshSince`):
 * 2 × waiting + running + 4 × KV use, plus how this gateway's in-flight count changed since that scrape (requests sent
 * minus requests finished), at least 0. Without one (never scraped, failed or stale): the gateway's own in-flight
 * count, as `least_request` sees it.
 */
export function loadScore(endpoint: Endpoint, freshSince: number): number {
  const sample = endpoint.load;
  if (sample === undefined || sample.at < freshSince) return endpoint.inFlight;
  const score = WAITING_WEIGHT * sample.waiting + sample.running + KV_WEIGHT * sample.kvUsage + endpoint.sinceSample;
  return score > 0 ? score : 0;
}

/** True when `endpoint` may take this attempt: not `exclude`, and not ejected unless `ejectedToo`. */
export function usable(endpoint: Endpoint, ctx: { now: number; exclude?: Endpoint; ejectedToo: boolean }): boolean {
  return endpoint !== ctx.exclude && (ctx.ejectedToo || !endpoint.breaker.isEjected(ctx.now));
}

/**
 * The endpoint with the lowest loadScore among usable ones, scanning from index `start` so that ties rotate.
 * Undefined when none is usable.
 */
export function leastLoaded(
  endpoints: readonly Endpoint[],
  ctx: { now: number; freshSince: number; exclude?: Endpoint; ejectedToo: boolean; start: number },
): Endpoint | undefined {
  const n = endpoints.length;
  let best: Endpoint | undefined;
  let bestScore = Infinity;
  for (let k = 0; k < n; k++) {
    const endpoint = endpoints[(ctx.start + k) % n];
    if (!usable(endpoint, ctx)) continue;
    const score = loadScore(endpoint, ctx.freshSince);
    if (score < bestScore) {
      best = endpoint;
      bestScore = score;
    }
  }
  return best;
}
