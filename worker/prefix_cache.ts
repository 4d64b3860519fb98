/**
 * A model of vLLM's automatic prefix caching, so that routing by prefix makes a measurable difference. The KV cache has
 * WORKER_KV_BLOCKS blocks of 16 tokens. A request holds blocks while it runs: its prompt's full blocks, shared and
 * cached by hash (each hash covers every token before it), and private blocks for the rest of its prompt and its
 * answer. Cached blocks nobody holds stay until room is needed, least recently used out first. At admission the
 * leading prompt blocks already cached are hits and need no prefill; after prefill the prompt's other full blocks
 * join the cache. As in vLLM, the last prompt token is always computed, so a fully cached prompt recomputes its last
 * block.
 */

/** Tokens per KV block (vLLM's default block size). */
export const BLOCK_TOKENS = 16;

/** Chained hashes of a prompt's full 16-token blocks (a token is a whitespace-separated word, as in text.ts). */
export function promptBlockHashes(prompt: string): number[] {
  const hashes: number[] = [];
  let hash = 0x811c9dc5;
  let tokens = 0;
  let inWord = false;
  for (let i = 0; i <= prompt.length; i++) {
    const code = i < prompt.length ? prompt.charCodeAt(i) : 32;
    const space = code === 32 || (code >= 9 && code <= 13);
    if (!space) {
      hash = Math.imul(hash ^ code, 0x01000193);
      inWord = true;
    } else if (inWord) {
      inWord = false;
      hash = Math.imul(hash ^ 0xff, 0x01000193); // a token boundary: "ab c" and "a bc" differ
      if (++tokens % BLOCK_TOKENS === 0) hashes.push(hash >>> 0);
    }
  }
  return hashes;
}

/** Blocks one request holds; returned by admit(), passed back to commit() and release(). */
export interface Allocation {
  /** The prompt's full block hashes. */
  readonly hashes: readonly number[];
  /** Leading blocks found cached at admission. */
  readonly hitBlocks: number;
  /** Cached blocks this request holds (hits, then its own once committed). */
  held: number;
  /** Blocks only this request uses (prompt blocks not cached yet, the partial block, the answer). */
  private: number;
}

/** The KV cache of one mock worker. */
export class PrefixCache {
  /** Cached blocks by hash with how many running requests hold each; insertion order is LRU order of free ones. */
  readonly #blocks = new Map<number, { refs: number }>();
  readonly #capacity: number;
  /** Cached blocks some request holds. */
  #held = 0;
  /** Private blocks of running requests. */
  #private = 0;

  constructor(capacityBlocks: number) {
    this.#capacity = capacityBlocks;
  }

  /** KV-cache use, 0..1: blocks held by running requests over capacity (vLLM counts free cached blocks as free). */
  get usage(): number {
    return Math.min(1, (this.#held + this.#private) / this.#capacity);
  }

  /** Blocks in the cache, held or free. */
  get cachedBlocks(): number {
    return this.#blocks.size;
  }

  /**
   * Admits a request of `promptTokens` prompt tokens (block hashes `hashes`) that will generate up to `answerTokens`:
   * counts and holds its cached leading blocks, and reserves the rest.
   */
  admit(hashes: readonly number[], tokens: { promptTokens: number; answerTokens: number }): Allocation {
    const maxHits = Math.floor(Math.max(0, tokens.promptTokens - 1) / BLOCK_TOKENS);
    let hitBlocks = 0;
    while (hitBlocks < Math.min(maxHits, hashes.length)) {
      const block = this.#blocks.get(hashes[hitBlocks]);
      if (block === undefined) break;
      if (block.refs++ === 0) this.#held++;
      hitBlocks++;
    }
    const total = Math.ceil((tokens.promptTokens + tokens.answerTokens) / BLOCK_TOKENS);
    const allocation = { hashes, hitBlocks, held: hitBlocks, private: total - hitBlocks };
    this.#private += allocation.private;
    this.#makeRoom();
    return allocation;
  }

  /** After prefill: the request's computed full prompt blocks join the cache (their private copies are freed). */
  commit(allocation: Allocation): void {
    for (let i = allocation.held; i < allocation.hashes.length; i++) {
      const hash = allocation.hashes[i];
      const block = this.#blocks.get(hash);
      if (block === undefined) {
        this.#blocks.set(hash, { refs: 1 });
        this.#held++;
      } else if (block.refs++ === 0) {
        this.#held++; // computed by another request meanwhile: shared
      }
      allocation.held++;
      allocation.private--;
      this.#private--;
    }
    this.#makeRoom();
  }

  /** The request is over: its private blocks are freed and its cached blocks become evictable (most recent last). */
  release(allocation: Allocation): void {
    this.#private -= allocation.private;
    allocation.private = 0;
    for (let i = allocation.held - 1; i >= 0; i--) {
      const hash = allocation.hashes[i];
      const block = this.#blocks.get(hash)!;
      if (--block.refs === 0) {
        this.#held--;
        this.#blocks.delete(hash); // re-inserted as the most recently used
        this.#blocks.set(hash, block);
      }
    }
    allocation.held = 0;
    this.#makeRoom(); // blocks held past capacity (more running than fits) can go now
  }

  /** Evicts free cached blocks, least recently used first, until everything fits (or nothing free is left). */
  #makeRoom(): void {
    let over = this.#blocks.size + this.#private - this.#capacity;
    if (over <= 0) return;
    for (const [hash, block] of this.#blocks) {
      if (over <= 0) break;
      if (block.refs > 0) continue;
      this.#blocks.delete(hash);
      over--;
    }
  }
}
