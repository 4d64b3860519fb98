import assert from "node:assert/strict";
import { median, percentiles, quantileSorted } from "./stats.ts";

Deno.test("median of an odd count is the middle value, of an even count the mean of the middle two", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

Deno.test("median ignores failed repeats (NaN) and is NaN when every repeat failed", () => {
  assert.equal(median([NaN, 5, 7, NaN, 6]), 6);
  assert.ok(Number.isNaN(median([NaN, NaN])));
});

Deno.test("nearest-rank percentiles: p50 of 1..100 is 50, p99 is 99, max is 100", () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i);
  const p = percentiles(values);
  assert.deepEqual([p.p50, p.p90, p.p99, p.max, p.count], [50, 90, 99, 100, 100]);
  assert.equal(p.mean, 50.5);
});

Deno.test("a quantile of an empty sample is NaN, of one value that value", () => {
  assert.ok(Number.isNaN(quantileSorted([], 0.5)));
  assert.equal(quantileSorted([7], 0.99), 7);
});
