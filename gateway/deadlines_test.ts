import assert from "node:assert/strict";
import { Deadlines, Timeout } from "./deadlines.ts";

Deno.test("a passed deadline aborts its controller with a Timeout naming which one; a removed one never fires", async () => {
  const deadlines = new Deadlines(10);
  const now = performance.now();
  const firstByte = { firstByteAt: now + 20, totalAt: Infinity, controller: new AbortController() };
  const total = { firstByteAt: Infinity, totalAt: now + 20, controller: new AbortController() };
  const removed = { firstByteAt: now + 20, totalAt: now + 20, controller: new AbortController() };
  for (const d of [firstByte, total, removed]) deadlines.add(d);
  deadlines.delete(removed);
  while (!firstByte.controller.signal.aborted || !total.controller.signal.aborted) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(firstByte.controller.signal.reason instanceof Timeout);
  assert.equal(firstByte.controller.signal.reason.message, "first byte timeout");
  assert.equal(total.controller.signal.reason.message, "request timeout");
  assert.equal(removed.controller.signal.aborted, false);
});
