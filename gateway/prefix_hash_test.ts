import assert from "node:assert/strict";
import fc from "fast-check";
import { keyOffset, MAX_PREFIX_BLOCKS, PromptHasher } from "./prefix_hash.ts";

const encoder = new TextEncoder();
const chatBody = (content: string, before: Record<string, unknown> = {}) =>
  encoder.encode(JSON.stringify({ ...before, model: "m", messages: [{ role: "user", content }] }));

function hashesOf(hasher: PromptHasher, body: Uint8Array, endpoint: "chat" | "completions" = "chat"): number[] {
  const count = hasher.hash(body, endpoint);
  return [...hasher.hashes.subarray(0, count)];
}

Deno.test("two prompts share their first k block hashes exactly when they share their first k blocks", () => {
  const hasher = new PromptHasher(16);
  const text = fc.string({ unit: fc.constantFrom("a", "b", " ", "é", "\n"), minLength: 0, maxLength: 300 });
  fc.assert(fc.property(text, text, text, (shared, restA, restB) => {
    const a = hashesOf(hasher, chatBody(shared + restA));
    const b = hashesOf(hasher, chatBody(shared + restB));
    const bytesA = chatBody(shared + restA);
    const bytesB = chatBody(shared + restB);
    const start = keyOffset(bytesA, encoder.encode('"messages"'));
    let same = 0; // full blocks equal from the key on
    while (
      same < Math.min(a.length, b.length) &&
      bytesA.subarray(start + same * 16, start + same * 16 + 16).every((x, i) => x === bytesB[start + same * 16 + i])
    ) same++;
    for (let i = 0; i < same; i++) assert.equal(a[i], b[i]);
    for (let i = same; i < Math.min(a.length, b.length); i++) assert.notEqual(a[i], b[i], "chained: differ after");
  }));
});

Deno.test("the prompt is hashed from its key on: fields before the messages do not change the hashes", () => {
  const hasher = new PromptHasher(64);
  const prompt = "a long shared system prompt ".repeat(40);
  const plain = hashesOf(hasher, chatBody(prompt));
  assert.ok(plain.length > 10);
  assert.deepEqual(hashesOf(hasher, chatBody(prompt, { stream: true, user: "tenant-7" })), plain);
  assert.notDeepEqual(hashesOf(hasher, chatBody("x" + prompt)), plain);
  const completion = encoder.encode(JSON.stringify({ model: "m", prompt }));
  assert.ok(hashesOf(hasher, completion, "completions").length > 10, "completions hash their prompt");
});

Deno.test("only full blocks are hashed, at most MAX_PREFIX_BLOCKS; a body without the key is hashed whole", () => {
  const hasher = new PromptHasher(16);
  assert.equal(hasher.hash(encoder.encode("x".repeat(15)), "chat"), 0);
  assert.equal(hasher.hash(encoder.encode("x".repeat(47)), "chat"), 2);
  assert.equal(hasher.hash(encoder.encode("x".repeat(16 * MAX_PREFIX_BLOCKS * 3)), "chat"), MAX_PREFIX_BLOCKS);
  for (const hash of hasher.hashes) assert.ok(Number.isSafeInteger(hash) && hash >= 0);
});

Deno.test("a block size that is not a multiple of 16 is refused", () => {
  assert.throws(() => new PromptHasher(20), RangeError);
});
