/**
 * Deterministic mock text. A "token" here is one whitespace-separated word: prompts are counted that way, and the
 * answer is a sequence of words picked from a fixed vocabulary by a generator seeded with the prompt's hash, so the
 * same prompt always gives the same answer.
 */

const VOCABULARY = (
  "the a model answer token stream gateway worker request reply quick brown fox jumps over lazy dog " +
  "cloud cluster node pod service route canary weight fallback redis limit key budget latency queue " +
  "batch prompt context window cache vector tensor kernel matrix layer attention head decoder sample " +
  "light river stone forest ocean mountain signal harbor lantern garden meadow orbit planet comet echo"
).split(" ");

/** The vocabulary words with a leading space, as used after the first token. */
const SPACED = VOCABULARY.map((word) => ` ${word}`);

/** FNV-1a 32-bit hash of a string (stable across runs and platforms). */
export function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The first `count` tokens of the answer to a prompt; joined they form the text (later tokens start with a space). */
export function answerTokens(prompt: string, count: number): string[] {
  let state = hashText(prompt) || 1;
  const tokens = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    // xorshift32: cheap, deterministic, well spread
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const index = (state >>> 0) % VOCABULARY.length;
    tokens[i] = i === 0 ? VOCABULARY[index] : SPACED[index];
  }
  return tokens;
}

/** Counts tokens the mock way: whitespace-separated words. */
export function countTokens(text: string): number {
  let count = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const space = code === 32 || (code >= 9 && code <= 13);
    if (!space && !inWord) count++;
    inWord = !space;
  }
  return count;
}

/** The words of a text, as countTokens counts them (one token each). */
export function words(text: string): string[] {
  return text.split(/\s+/).filter((word) => word !== "");
}

/** The vocabulary's words by token id (a word's id is its index). */
const VOCABULARY_IDS = new Map(VOCABULARY.map((word, id) => [word, id]));
/** Ids of words outside the vocabulary start here. */
const HASHED_IDS_FROM = 1000;

/**
 * A word's token id: its index in the vocabulary (every word the mock generates), otherwise a number from its hash,
 * the same in every worker (HASHED_IDS_FROM and above).
 */
export function tokenId(word: string): number {
  return VOCABULARY_IDS.get(word) ?? HASHED_IDS_FROM + (hashText(word) % 1_000_000);
}

/** The word of a token id from the vocabulary, or `<unk>` (a hashed id cannot be turned back into its word). */
export function tokenWord(id: number): string {
  return VOCABULARY[id] ?? "<unk>";
}
