/**
 * Chained block hashes of a request's prompt, for the `prefix` picker. The gateway has no tokenizer, so it hashes the
 * prompt as the client serialized it: the body's bytes from the operation's prompt member on (chat: `"messages"`,
 * completions: `"prompt"`, see gateway/operations.ts), in fixed-size blocks. Each block's hash covers every byte before
 * it, so two requests share the first k hashes exactly when they share the first k blocks of prompt. Only full blocks
 * count (a model server caches only full blocks too), and at most MAX_PREFIX_BLOCKS, which bounds the cost of a long
 * prompt.
 */

import { type Operation, OPERATIONS } from "./operations.ts";

/** Blocks hashed per request at most (16 KiB of prompt at the default 256-byte block). */
export const MAX_PREFIX_BLOCKS = 64;

const encoder = new TextEncoder();
const QUOTE = 34;
/** Each operation's prompt members as quoted JSON keys, encoded once. */
const PROMPT_KEYS = new Map<Operation, readonly Uint8Array[]>(
  OPERATIONS.map((op) => [op, op.prompt.map((member) => encoder.encode(JSON.stringify(member)))]),
);

/**
 * Offset of the first of `keys` (quoted JSON keys, all starting with `"`) in `body`, or -1: one pass that stops at the
 * first match. A JSON string value cannot contain a quoted key unescaped.
 */
export function keyOffset(body: Uint8Array, keys: readonly Uint8Array[]): number {
  const n = body.length;
  for (let i = 0; i < n; i++) {
    if (body[i] !== QUOTE) continue;
    keys: for (let k = 0; k < keys.length; k++) {
      const key = keys[k];
      if (i + key.length > n) continue;
      for (let j = 1; j < key.length; j++) if (body[i + j] !== key[j]) continue keys;
      return i;
    }
  }
  return -1;
}

/** Where the prompt of `operation` starts in `body`: the first of its prompt members found, else 0 (the whole body). */
export function promptStart(body: Uint8Array, operation: Operation): number {
  const keys = PROMPT_KEYS.get(operation);
  return keys === undefined || keys.length === 0 ? 0 : Math.max(0, keyOffset(body, keys));
}

/** Hashes prompts into a reused buffer; one instance per picker (not shared across concurrent callers). */
export class PromptHasher {
  /**
   * The block hashes of the last `hash` call, `hashes[0..count)`: 30-bit integers, which V8 keeps unboxed as map keys.
   * Two unrelated blocks share a key with odds of 1 in 2^30 (a misrouted request, nothing worse).
   */
  readonly hashes = new Int32Array(MAX_PREFIX_BLOCKS);
  readonly #blockBytes: number;
  readonly #bytes: Uint8Array;
  readonly #words: Uint32Array;

  /** `blockBytes` must be a multiple of 16 (four lanes of 32-bit words). */
  constructor(blockBytes: number) {
    if (blockBytes <= 0 || blockBytes % 16 !== 0) {
      throw new RangeError(`block size ${blockBytes} is not a multiple of 16`);
    }
    this.#blockBytes = blockBytes;
    this.#words = new Uint32Array(blockBytes * MAX_PREFIX_BLOCKS / 4);
    this.#bytes = new Uint8Array(this.#words.buffer);
  }

  /** Hashes the prompt of a request body; returns how many block hashes `hashes` now holds. */
  hash(body: Uint8Array, operation: Operation): number {
    const start = promptStart(body, operation);
    const blockBytes = this.#blockBytes;
    const blocks = Math.min(MAX_PREFIX_BLOCKS, Math.floor((body.length - start) / blockBytes));
    if (blocks <= 0) return 0;
    // A copy into an aligned buffer lets the loop read 32-bit words; it costs far less than the hashing.
    this.#bytes.set(body.subarray(start, start + blocks * blockBytes));
    const words = this.#words;
    const hashes = this.hashes;
    const wordsPerBlock = blockBytes >> 2;
    // Four independent lanes (each takes every fourth word) so the CPU overlaps their multiplications.
    let h0 = 0x811c9dc5 | 0, h1 = 0x9747b28c | 0, h2 = 0x2545f491 | 0, h3 = 0x68e31da4 | 0;
    let i = 0;
    for (let block = 0; block < blocks; block++) {
      const stop = i + wordsPerBlock;
      for (; i < stop; i += 4) {
        let x = h0 ^ words[i];
        h0 = Math.imul((x << 5) | (x >>> 27), 0x9e3779b1);
        x = h1 ^ words[i + 1];
        h1 = Math.imul((x << 5) | (x >>> 27), 0x85ebca77);
        x = h2 ^ words[i + 2];
        h2 = Math.imul((x << 5) | (x >>> 27), 0xc2b2ae3d);
        x = h3 ^ words[i + 3];
        h3 = Math.imul((x << 5) | (x >>> 27), 0x27d4eb2f);
      }
      // The lanes run on across blocks, so each key covers everything before it.
      hashes[block] = mix(h0 ^ rotl(h1, 7) ^ rotl(h2, 13) ^ rotl(h3, 19)) & 0x3fffffff;
    }
    return blocks;
  }
}

function rotl(x: number, bits: number): number {
  return (x << bits) | (x >>> (32 - bits));
}

/** MurmurHash3's finalizer: every input bit affects every output bit. */
function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}
