import assert from "node:assert/strict";
import fc from "fast-check";
import { OPERATIONS_BY_PATH } from "./operations.ts";
import { keyOffset, MAX_PREFIX_BLOCKS, PromptHasher } from "./prefix_hash.ts";

const encoder = new TextEncoder();
const chatBody = (content: string, before: Record<string, unknown> = {}) =>
  encoder.encode(JSON.stringify({ ...before, model: "m", messages: [{ role: "user", content }] }));

const CHAT = OPERATIONS_BY_PATH.get("/v1/chat/completions")!;
const COMPLETIONS = OPERATIONS_BY_PATH.get("/v1/completions")!;
const RESPONSES = OPERATIONS_BY_PATH.get("/v1/responses")!;

function hashesOf(hasher: PromptHasher, body: Uint8Array, operation = CHAT): number[] {
  const count = hasher.hash(body, operation);
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
    const start = keyOffset(bytesA, [encoder.encode('"messages"')]);
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
  assert.ok(hashesOf(hasher, completion, COMPLETIONS).length > 10, "completions hash their prompt");
});

Deno.test("only full blocks are hashed, at most MAX_PREFIX_BLOCKS; a body without the key is hashed whole", () => {
  const hasher = new PromptHasher(16);
  assert.equal(hasher.hash(encoder.encode("x".repeat(15)), CHAT), 0);
  assert.equal(hasher.hash(encoder.encode("x".repeat(47)), CHAT), 2);
  assert.equal(hasher.hash(encoder.encode("x".repeat(16 * MAX_PREFIX_BLOCKS * 3)), CHAT), MAX_PREFIX_BLOCKS);
  for (const hash of hasher.hashes) assert.ok(Number.isSafeInteger(hash) && hash >= 0);
});

Deno.test("a block size that is not a multiple of 16 is refused", () => {
  assert.throws(() => new PromptHasher(20), RangeError);
});

Deno.test("a Responses request is hashed from whichever of instructions and input comes first", () => {
  const hasher = new PromptHasher(64);
  const instructions = "the tenant's long instructions ".repeat(30);
  const body = (fields: Record<string, unknown>) => encoder.encode(JSON.stringify({ model: "m", ...fields }));
  const first = hashesOf(hasher, body({ instructions, input: "question one" }), RESPONSES);
  const withUser = hashesOf(hasher, body({ user: "u-1", instructions, input: "question two" }), RESPONSES);
  assert.ok(first.length > 5);
  assert.deepEqual(withUser.slice(0, first.length - 1), first.slice(0, -1), "same instructions, same prefix");
  const inputOnly = hashesOf(hasher, body({ input: instructions + "question" }), RESPONSES);
  assert.ok(inputOnly.length > 5, "without instructions the input is the prompt");
});
