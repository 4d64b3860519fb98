/**
 * `prefix`: approximate prefix-cache affinity with bounded load. A request goes to the endpoint that served the longest
 * prefix of its prompt recently (prefix_hash.ts, prefix_index.ts), unless that endpoint's load exceeds the least
 * loaded endpoint's by more than the threshold; then it goes to the least loaded one. A request that shares less than
 * `minMatch` of its prompt's blocks with anything cached goes exactly where `least_request` would send it, so on a
 * workload without shared prefixes `prefix` is `least_request`. With a session header, a session sticks to its
 * endpoint under the same bound.
 */
import type { Endpoint, EndpointSet } from "./endpoint_set.ts";
import { leastLoaded, loadScore, type Picker, type PickRequest, usable } from "./picker.ts";
import { LeastRequestPicker } from "./picker_least_request.ts";
import { MAX_PREFIX_BLOCKS, PromptHasher } from "./prefix_hash.ts";
import { type Holders, isMany, PrefixIndex } from "./prefix_index.ts";

/** Sessions remembered per upstream (least recently used dropped first). */
export const MAX_SESSIONS = 65_536;

/** Settings of the prefix picker. */
export interface PrefixPickerOptions {
  /** A scrape older than this is not used for load. */
  staleMs: number;
  /** Bytes of serialized prompt per hashed block (multiple of 16). */
  blockBytes: number;
  /** Blocks remembered. */
  cacheBlocks: number;
  /** How much more loaded (in loadScore units: requests) the prefix's endpoint may be than the least loaded one. */
  loadThreshold: number;
  /** Share (0..1) of a request's hashed blocks an endpoint must hold for affinity; less goes as `least_request`. */
  minMatch: number;
  /** The `least_request` sampling source, injectable so tests can use a seeded generator. */
  random?: () => number;
}

/** Chooses by prompt prefix and session, bounded by load. */
export class PrefixPicker implements Picker {
  readonly name = "prefix";
  readonly #set: EndpointSet;
  readonly #options: PrefixPickerOptions;
  readonly #hasher: PromptHasher;
  readonly #index: PrefixIndex;
  /** Holders of the current prompt's blocks found by the lookup. */
  readonly #known: (Holders | undefined)[] = new Array(MAX_PREFIX_BLOCKS).fill(undefined);
  readonly #sessions = new Map<string, Endpoint>();
  /** Where a request without a long enough cached prefix goes. */
  readonly #unmatched: LeastRequestPicker;
  #start = 0;

  constructor(set: EndpointSet, options: PrefixPickerOptions) {
    this.#set = set;
    this.#unmatched = new LeastRequestPicker(set, { random: options.random });
    this.#options = options;
    this.#hasher = new PromptHasher(options.blockBytes);
    this.#index = new PrefixIndex(options.cacheBlocks);
  }

  /** Blocks remembered (for tests and debugging). */
  get rememberedBlocks(): number {
    return this.#index.size;
  }

  /**
   * The session's endpoint, else the longest-prefix endpoint, unless too loaded (then the least loaded); a request
   * with no such prefix cached goes as `least_request` would send it.
   */
  pick(request: PickRequest, exclude?: Endpoint): Endpoint | undefined {
    const endpoints = this.#set.endpoints;
    if (endpoints.length === 0) return undefined;
    const now = this.#set.now();
    const freshSince = now - this.#options.staleMs;
    const start = this.#start = (this.#start + 1) % endpoints.length;
    let ctx = { now, freshSince, exclude, start, ejectedToo: false };
    let least = leastLoaded(endpoints, ctx);
    if (least === undefined) {
      ctx = { ...ctx, ejectedToo: true };
      least = leastLoaded(endpoints, ctx);
      if (least === undefined) return undefined;
    }
    const limit = loadScore(least, freshSince) + this.#options.loadThreshold;

    let chosen: Endpoint | undefined;
    const session = request.session;
    if (session) {
      const pinned = this.#sessions.get(session);
      if (pinned !== undefined && pinned.listed && usable(pinned, ctx) && loadScore(pinned, freshSince) <= limit) {
        chosen = pinned;
      }
    }

    const hashes = this.#hasher.hashes;
    const count = this.#hasher.hash(request.body, request.operation);
    const known = this.#known;
    let knownCount = 0;
    for (; knownCount < count; knownCount++) {
      const entry = this.#index.get(hashes[knownCount]);
      if (entry === undefined) break;
      known[knownCount] = entry;
    }
    if (chosen === undefined) {
      // A short match (a common opening such as the first message's role) is worth less than balance: no match.
      const minBlocks = Math.max(1, this.#options.minMatch * count);
      if (knownCount < minBlocks) chosen = this.#unmatched.pick(request, exclude) ?? least;
      // The deepest block that a usable endpoint holds: that endpoint has the longest cached prefix.
      for (let i = knownCount - 1; chosen === undefined && i + 1 >= minBlocks; i--) {
        const holder = leastLoadedHolder(known[i]!, ctx);
        if (holder === undefined) continue;
        chosen = loadScore(holder, freshSince) <= limit ? holder : least;
      }
    }
    chosen ??= least;

    this.#index.record(chosen, { hashes, count, found: knownCount });
    known.fill(undefined, 0, knownCount);
    if (session) this.#remember(session, chosen);
    return chosen;
  }

  #remember(session: string, endpoint: Endpoint): void {
    const sessions = this.#sessions;
    sessions.delete(session); // re-inserted as the most recent
    sessions.set(session, endpoint);
    if (sessions.size > MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
  }
}

/** The least loaded usable, still listed endpoint among a block's holders, or undefined. */
function leastLoadedHolder(
  holders: Holders,
  ctx: { now: number; freshSince: number; exclude?: Endpoint; ejectedToo: boolean },
): Endpoint | undefined {
  if (!isMany(holders)) return holders.listed && usable(holders, ctx) ? holders : undefined;
  let best: Endpoint | undefined;
  let bestScore = Infinity;
  for (const endpoint of holders) {
    if (!endpoint.listed || !usable(endpoint, ctx)) continue;
    const score = loadScore(endpoint, ctx.freshSince);
    if (score < bestScore) {
      best = endpoint;
      bestScore = score;
    }
  }
  return best;
}
