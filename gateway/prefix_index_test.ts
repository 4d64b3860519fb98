import assert from "node:assert/strict";
import { fakeSet } from "./fake_endpoints.ts";
import type { Endpoint } from "./endpoint_set.ts";
import { isMany, MAX_HOLDERS, PrefixIndex } from "./prefix_index.ts";

/** Blocks as the picker records them: those already in the index first. */
function blocks(...hashes: number[]) {
  return { hashes: Int32Array.from(hashes), count: hashes.length, found: 0 };
}

function known(index: PrefixIndex, ...hashes: number[]) {
  let found = 0;
  while (found < hashes.length && index.get(hashes[found]) !== undefined) found++;
  return { hashes: Int32Array.from(hashes), count: hashes.length, found };
}

function names(holders: Endpoint | readonly Endpoint[] | undefined): string[] {
  if (holders === undefined) return [];
  return (isMany(holders) ? holders : [holders]).map((e) => e.baseUrl.slice(7, 9));
}

Deno.test("a block remembers its last MAX_HOLDERS endpoints, the most recent last", () => {
  const set = fakeSet(6);
  const index = new PrefixIndex(100);
  index.record(set.endpoints[0], known(index, 1));
  index.record(set.endpoints[0], known(index, 1));
  assert.deepEqual(names(index.get(1)), ["e0"]);
  for (const e of set.endpoints) index.record(e, known(index, 1));
  index.record(set.endpoints[3], known(index, 1));
  assert.equal(names(index.get(1)).length, MAX_HOLDERS);
  assert.deepEqual(names(index.get(1)), ["e2", "e4", "e5", "e3"]);
});

Deno.test("the index stays within its capacity and keeps the blocks in use while new ones come and go", () => {
  const [e] = fakeSet(1).endpoints;
  const index = new PrefixIndex(1_000);
  const hot = [1, 2, 3, 4];
  for (let request = 0; request < 5_000; request++) {
    index.record(e, known(index, ...hot)); // a shared prefix on every request...
    index.record(e, blocks(...Array.from({ length: 8 }, (_, i) => 1_000 + request * 8 + i))); // ...and new prompts
    assert.ok(index.size <= 1_000, `size ${index.size}`);
  }
  for (const hash of hot) assert.ok(index.get(hash), `hot block ${hash} was evicted`);
  assert.equal(index.get(1_000), undefined, "old cold blocks are gone");
});
