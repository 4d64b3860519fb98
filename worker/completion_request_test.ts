import assert from "node:assert/strict";
import { checkCompletionRequest, readCompletionRequest } from "./completion_request.ts";
import { WorkerError } from "./errors.ts";

const chat = { model: "m", messages: [{ role: "user", content: "hello there" }] };

function rejects(body: unknown, kind: "chat" | "text", param: string | null) {
  assert.throws(() => checkCompletionRequest(body, kind), (error) => {
    assert.ok(error instanceof WorkerError);
    assert.equal(error.status, 400);
    assert.equal(error.param, param, error.message);
    return true;
  });
}

Deno.test("a chat request is read with its prompt, token count, stream flags and token cap", () => {
  assert.deepEqual(checkCompletionRequest({ ...chat, stream: true, stream_options: { include_usage: true } }, "chat"), {
    kind: "chat",
    model: "m",
    prompt: "user: hello there\n",
    promptTokens: 3,
    maxTokens: undefined,
    stream: true,
    includeUsage: true,
  });
  assert.equal(checkCompletionRequest({ ...chat, max_tokens: 9 }, "chat").maxTokens, 9);
  assert.equal(checkCompletionRequest({ ...chat, max_tokens: 9, max_completion_tokens: 4 }, "chat").maxTokens, 4);
  const parts = { model: "m", messages: [{ role: "user", content: [{ type: "text", text: "a b" }] }, { role: "x" }] };
  assert.equal(checkCompletionRequest(parts, "chat").promptTokens, 4);
});

Deno.test("a completion prompt may be text, a list of texts or token ids", () => {
  assert.equal(checkCompletionRequest({ model: "m", prompt: "one two" }, "text").promptTokens, 2);
  assert.equal(checkCompletionRequest({ model: "m", prompt: ["one", "two three"] }, "text").promptTokens, 3);
  assert.equal(checkCompletionRequest({ model: "m", prompt: [1, 2, 3, 4] }, "text").promptTokens, 4);
  assert.equal(checkCompletionRequest({ model: "m", prompt: [[1, 2], [3]] }, "text").promptTokens, 3);
});

Deno.test("missing or wrongly typed fields are rejected with a 400 naming the field", () => {
  rejects([], "chat", null);
  rejects("x", "chat", null);
  rejects({ messages: chat.messages }, "chat", "model");
  rejects({ ...chat, model: 3 }, "chat", "model");
  rejects({ model: "m" }, "chat", "messages");
  rejects({ model: "m", messages: [] }, "chat", "messages");
  rejects({ model: "m", messages: [{ content: "x" }] }, "chat", "messages[0]");
  rejects({ model: "m", messages: [{ role: "user", content: 5 }] }, "chat", "messages[0].content");
  rejects({ model: "m" }, "text", "prompt");
  rejects({ model: "m", prompt: [1, "a"] }, "text", "prompt");
  rejects({ ...chat, max_tokens: 0 }, "chat", "max_tokens");
  rejects({ ...chat, max_completion_tokens: 1.5 }, "chat", "max_completion_tokens");
  rejects({ ...chat, stream: "yes" }, "chat", "stream");
  rejects({ ...chat, stream_options: { include_usage: 1 } }, "chat", "stream_options.include_usage");
});

Deno.test("a body that is not JSON is a 400 invalid_json", async () => {
  const request = new Request("http://x/v1/completions", { method: "POST", body: "{nope" });
  await assert.rejects(readCompletionRequest(request, "text"), (error) => {
    assert.ok(error instanceof WorkerError);
    assert.equal(error.status, 400);
    assert.equal(error.code, "invalid_json");
    return true;
  });
});
