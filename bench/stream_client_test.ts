import assert from "node:assert/strict";
import { countTokens } from "./stream_client.ts";

Deno.test("token events are counted by their content field, also when the marker is split across chunks", () => {
  const events = 'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices":[{"delta":{"cont';
  const first = countTokens("", events);
  assert.equal(first.count, 1);
  const second = countTokens(
    first.carry,
    'ent":"b"}}]}\n\ndata: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n',
  );
  assert.equal(second.count, 1);
  const done = countTokens(second.carry, "data: [DONE]\n\n");
  assert.equal(done.count, 0);
});
