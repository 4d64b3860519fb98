import assert from "node:assert/strict";
import { planAnswer } from "./completion.ts";
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
