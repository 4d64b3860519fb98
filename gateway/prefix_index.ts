/**
 * Which endpoints served each prompt block recently: block hash -> its last endpoints (at most MAX_HOLDERS), bounded
 * to a capacity of blocks. Two generations approximate LRU without per-entry bookkeeping: new and used blocks go into
 * the young map; when it holds half the capacity it becomes the old map and the previous old map is dropped. A block
 * used again while old moves back into the young map, so blocks in use survive and the total stays under capacity.
 */
import type { Endpoint } from "./endpoint_set.ts";

/** Endpoints remembered per block (a hot prefix that spilled over to more endpoints). */
export const MAX_HOLDERS = 4;

/** The endpoints that served a block, most recent last: one endpoint (the common case, no allocation) or several. */
export type Holders = Endpoint | readonly Endpoint[];

/** A bounded block -> endpoints map. Keys are small integers (prefix_hash.ts) so maps never box them. */
export class PrefixIndex {
  #young = new Map<number, Holders>();
  #old = new Map<number, Holders>();
  readonly #generation: number;

  /** `capacity`: blocks kept at most. */
  constructor(capacity: number) {
    this.#generation = Math.max(1, Math.floor(capacity / 2));
  }

  /** Blocks remembered (a block in both generations counts twice). */
  get size(): number {
    return this.#young.size + this.#old.size;
  }

  /** The endpoints of a block, if remembered. */
  get(hash: number): Holders | undefined {
    return this.#young.get(hash) ?? this.#old.get(hash);
  }

  /**
   * Records that `endpoint` served the blocks `hashes[0..count)`. `found`: how many leading blocks the caller's get()
   * found; the blocks after those are taken as new (a block whose predecessor is gone is hardly ever still there).
   */
  record(endpoint: Endpoint, blocks: { hashes: Int32Array; count: number; found: number }): void {
    const { hashes, count, found } = blocks;
    for (let i = 0; i < count; i++) {
      const hash = hashes[i];
      if (i < found) {
        const young = this.#young.get(hash);
        if (young !== undefined) {
          const holders = withHolder(young, endpoint);
          if (holders !== young) this.#young.set(hash, holders);
          continue;
        }
        this.#young.set(hash, withHolder(this.#old.get(hash), endpoint));
      } else {
        this.#young.set(hash, endpoint);
      }
      if (this.#young.size >= this.#generation) {
        this.#old = this.#young;
        this.#young = new Map();
      }
    }
  }
}

/** True when `holders` is several endpoints. */
export function isMany(holders: Holders): holders is readonly Endpoint[] {
  return Array.isArray(holders);
}

/** `holders` with `endpoint` as the most recent; the oldest goes when there are too many. Unchanged: the same value. */
function withHolder(holders: Holders | undefined, endpoint: Endpoint): Holders {
  if (holders === undefined || holders === endpoint) return endpoint;
  if (!isMany(holders)) return [holders, endpoint];
  if (holders[holders.length - 1] === endpoint) return holders;
  const next = holders.filter((e) => e !== endpoint);
  if (next.length >= MAX_HOLDERS) next.shift();
  next.push(endpoint);
  return next;
}
