import assert from "node:assert/strict";
import { mergeValues } from "./merge.ts";

Deno.test("mergeValues merges maps, replaces lists and scalars, and deletes on null", () => {
  const base = { a: { b: 1, c: [1, 2] }, d: "x", e: 1 };
  assert.deepEqual(mergeValues(base, { a: { c: [3] }, d: "y", e: null }), { a: { b: 1, c: [3] }, d: "y" });
  assert.deepEqual(base, { a: { b: 1, c: [1, 2] }, d: "x", e: 1 }, "base unchanged");
});
