import assert from "node:assert/strict";
import fc from "fast-check";
import { answerTokens, countTokens, tokenId, tokenWord, words } from "./text.ts";

Deno.test("the same prompt always gives the same answer, and a longer answer extends a shorter one", () => {
  fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 64 }), (prompt, count) => {
    const answer = answerTokens(prompt, count);
    assert.deepEqual(answerTokens(prompt, count), answer);
    assert.deepEqual(answerTokens(prompt, count + 5).slice(0, count), answer);
  }));
});

Deno.test("an answer of n tokens counts as n tokens, and different prompts give different answers", () => {
  fc.assert(fc.property(fc.string(), fc.integer({ min: 0, max: 64 }), (prompt, count) => {
    assert.equal(countTokens(answerTokens(prompt, count).join("")), count);
  }));
  const answers = new Set(["hello", "hello!", "bye", "tell me a story", ""].map((p) => answerTokens(p, 8).join("")));
  assert.equal(answers.size, 5);
});

Deno.test("prompt tokens are whitespace-separated words", () => {
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom("a", "b", " ", "\n", "\t") }), (text) => {
    assert.equal(countTokens(text), text.split(/\s+/).filter(Boolean).length);
  }));
  assert.equal(countTokens("  hello   wide\nworld "), 3);
});

Deno.test("token ids: one per word, the same everywhere; the mock's own words turn back into text", () => {
  const answer = answerTokens("seed", 12).join("");
  const ids = words(answer).map(tokenId);
  assert.equal(ids.length, countTokens(answer));
  assert.equal(ids.map(tokenWord).join(" "), answer);
  assert.equal(tokenId("supercalifragilistic"), tokenId("supercalifragilistic"));
  assert.ok(tokenId("supercalifragilistic") >= 1000);
  assert.equal(tokenWord(tokenId("supercalifragilistic")), "<unk>");
});
