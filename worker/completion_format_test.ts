import assert from "node:assert/strict";
import { assertOpenAI, assertOpenAICompletionChunk } from "../tests/support/openai_schema.ts";
import { CompletionFormat } from "./completion_format.ts";

const usage = { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 };
const parse = (event: string) => {
  assert.match(event, /^data: .*\n\n$/s);
  return JSON.parse(event.slice("data: ".length));
};

Deno.test("chat bodies and events satisfy OpenAI's schemas", () => {
  for (const includeUsage of [false, true]) {
    const format = new CompletionFormat("chat", { model: 'odd "model"', includeUsage });
    const first = parse(format.tokenEvent('he said "hi"\n', true));
    assertOpenAI("CreateChatCompletionStreamResponse", first);
    assert.deepEqual(first.choices[0].delta, { role: "assistant", content: 'he said "hi"\n' });
    assert.equal(first.model, 'odd "model"');
    assert.equal("usage" in first, includeUsage);
    assertOpenAI("CreateChatCompletionStreamResponse", parse(format.tokenEvent(" x", false)));
    assert.equal(parse(format.finishEvent("length")).choices[0].finish_reason, "length");
    assertOpenAI("CreateChatCompletionStreamResponse", parse(format.finishEvent("length")));
    assertOpenAI("CreateChatCompletionStreamResponse", parse(format.usageEvent(usage)));
    const body = JSON.parse(format.body("a b c", "stop", usage));
    assertOpenAI("CreateChatCompletionResponse", body);
    assert.equal(body.object, "chat.completion");
    assert.equal(body.choices[0].message.content, "a b c");
  }
});

Deno.test("text completion bodies and events satisfy OpenAI's schema", () => {
  const format = new CompletionFormat("text", { model: "m", includeUsage: true });
  for (const event of [format.tokenEvent("a", true), format.finishEvent("stop"), format.usageEvent(usage)]) {
    assertOpenAICompletionChunk(parse(event));
  }
  const body = JSON.parse(format.body("a b", "length", usage));
  assertOpenAI("CreateCompletionResponse", body);
  assert.deepEqual(body.choices, [{ index: 0, text: "a b", logprobs: null, finish_reason: "length" }]);
  assert.deepEqual(body.usage, usage);
});

Deno.test("every answer gets its own id", () => {
  const ids = new Set(
    Array.from({ length: 100 }, () => new CompletionFormat("chat", { model: "m", includeUsage: false }).id),
  );
  assert.equal(ids.size, 100);
});
