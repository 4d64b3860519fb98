import assert from "node:assert/strict";
import { firstTokenDelayMs, planAnswer } from "./completion.ts";
import { checkCompletionRequest } from "./completion_request.ts";

const request = (maxTokens?: number) =>
  checkCompletionRequest({ model: "m", prompt: "tell me", max_tokens: maxTokens }, "text");

Deno.test("an answer has WORKER_MAX_TOKENS tokens and stops, unless max_tokens cuts it short (length)", () => {
  assert.equal(planAnswer(request(), 16).tokens.length, 16);
  assert.equal(planAnswer(request(), 16).finish, "stop");
  assert.equal(planAnswer(request(16), 16).finish, "stop");
  assert.equal(planAnswer(request(40), 16).tokens.length, 16);
  assert.deepEqual(planAnswer(request(5), 16).tokens, planAnswer(request(), 16).tokens.slice(0, 5));
  assert.equal(planAnswer(request(5), 16).finish, "length");
});

Deno.test("time to first token is WORKER_TTFT_MS plus the prefill time of the uncached prompt tokens", () => {
  const config = { ttftMs: 20, prefillMsPerToken: 0.5 };
  assert.equal(firstTokenDelayMs(config, { promptTokens: 2_000, cachedTokens: 0 }), 1_020);
  assert.equal(firstTokenDelayMs(config, { promptTokens: 2_000, cachedTokens: 1_984 }), 28);
  assert.equal(firstTokenDelayMs({ ttftMs: 100, prefillMsPerToken: 0 }, { promptTokens: 2_000, cachedTokens: 0 }), 100);
});
