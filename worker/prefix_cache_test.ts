import assert from "node:assert/strict";
import fc from "fast-check";
import { type Allocation, BLOCK_TOKENS, PrefixCache, promptBlockHashes } from "./prefix_cache.ts";

const words = (n: number, tag = "w") => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(" ");

function run(cache: PrefixCache, prompt: string, answerTokens = 16): Allocation {
  const promptTokens = prompt.split(/\s+/).filter(Boolean).length;
  return cache.admit(promptBlockHashes(prompt), { promptTokens, answerTokens });
}

Deno.test("prompt blocks are 16 tokens, chained: a shared opening gives the same leading hashes", () => {
  const a = promptBlockHashes(words(40) + " apple");
  const b = promptBlockHashes(words(40) + " pear " + words(20, "x"));
  assert.equal(a.length, 2);
  assert.equal(b.length, 3);
  assert.deepEqual(b.slice(0, 2), a);
  assert.notDeepEqual(promptBlockHashes("ab c " + words(14)), promptBlockHashes("a bc " + words(14)));
  assert.deepEqual(promptBlockHashes("  " + words(16).replaceAll(" ", "\n\t ") + " "), promptBlockHashes(words(16)));
});

Deno.test("a repeated prompt hits every block but the last, which is recomputed (as in vLLM)", () => {
  const cache = new PrefixCache(100);
  const prompt = words(64); // exactly 4 blocks
  const first = run(cache, prompt);
  assert.equal(first.hitBlocks, 0);
  cache.commit(first);
  cache.release(first);
  const again = run(cache, prompt);
  assert.equal(again.hitBlocks, 3);
  const longer = run(cache, prompt + " and one more question");
  assert.equal(longer.hitBlocks, 4, "a longer prompt may hit all 4 blocks");
});

Deno.test("KV use counts the blocks running requests hold; a shared block counts once", () => {
  const cache = new PrefixCache(100);
  const prompt = words(160); // 10 blocks
  const a = run(cache, prompt, 32); // 12 blocks: 10 prompt + 2 answer
  assert.equal(cache.usage, 0.12);
  cache.commit(a);
  assert.equal(cache.usage, 0.12);
  const b = run(cache, prompt + " more", 32); // hits 10, holds 10 shared + 3 private
  assert.equal(b.hitBlocks, 10);
  assert.equal(cache.usage, 0.15);
  cache.release(a);
  cache.release(b);
  assert.equal(cache.usage, 0);
  assert.equal(cache.cachedBlocks, 10, "free cached blocks stay for later requests");
});

Deno.test("when room is needed the least recently used free blocks go, never blocks a request holds", () => {
  const cache = new PrefixCache(6);
  const held = run(cache, words(48, "held"), 0); // 3 blocks, held while it runs
  cache.commit(held);
  const old = run(cache, words(32, "old"), 0);
  cache.commit(old);
  cache.release(old); // 2 free blocks
  const fresh = run(cache, words(48, "new"), 0); // needs 3: evicts the old ones
  cache.commit(fresh);
  cache.release(fresh);
  assert.equal(run(cache, words(32, "old") + " x", 0).hitBlocks, 0, "old blocks were evicted");
  assert.equal(run(cache, words(48, "held") + " x", 0).hitBlocks, 3, "held blocks survived");
});

Deno.test("any sequence of requests keeps KV use within 0..1 and returns to 0 when all are done", () => {
  const request = fc.record({ tenant: fc.nat(4), length: fc.nat(200), answer: fc.nat(64), commit: fc.boolean() });
  fc.assert(fc.property(fc.integer({ min: 1, max: 64 }), fc.array(request, { maxLength: 30 }), (capacity, requests) => {
    const cache = new PrefixCache(capacity);
    const running: Allocation[] = [];
    for (const r of requests) {
      const allocation = run(cache, `${words(r.length, `t${r.tenant}-`)} end`, r.answer);
      assert.ok(allocation.hitBlocks * BLOCK_TOKENS < r.length + 1);
      if (r.commit) cache.commit(allocation);
      running.push(allocation);
      assert.ok(cache.usage >= 0 && cache.usage <= 1);
      if (running.length > 3) cache.release(running.shift()!);
    }
    for (const allocation of running) cache.release(allocation);
    assert.equal(cache.usage, 0);
    assert.ok(cache.cachedBlocks <= capacity);
  }));
});
