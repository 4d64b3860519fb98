import assert from "node:assert/strict";
import { assertOpenAI, assertOpenAICompletionChunk, openAIErrors, rewriteNullable } from "./openai_schema.ts";

const usage = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 };
const chat = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1700000000,
  model: "mock-worker",
  choices: [{
    index: 0,
    finish_reason: "stop",
    logprobs: null,
    message: { role: "assistant", content: "hi", refusal: null },
  }],
  usage,
};
const chunk = {
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 1700000000,
  model: "mock-worker",
  choices: [{ index: 0, finish_reason: null, logprobs: null, delta: { role: "assistant", content: "hi" } }],
};
const completion = {
  id: "cmpl-1",
  object: "text_completion",
  created: 1700000000,
  model: "mock-worker",
  choices: [{ index: 0, finish_reason: "length", logprobs: null, text: "hi" }],
  usage,
};
const models = { object: "list", data: [{ id: "mock-worker", object: "model", created: 0, owned_by: "nexus" }] };
const error = { error: { message: "bad", type: "invalid_request_error", param: null, code: null } };

Deno.test("well-formed OpenAI responses pass their schemas", () => {
  assertOpenAI("CreateChatCompletionResponse", chat);
  assertOpenAI("CreateChatCompletionStreamResponse", chunk);
  assertOpenAI("CreateChatCompletionStreamResponse", { ...chunk, choices: [], usage });
  assertOpenAI("CreateCompletionResponse", completion);
  assertOpenAI("ListModelsResponse", models);
  assertOpenAI("ErrorResponse", error);
});

Deno.test("responses with missing or wrongly typed fields are rejected", () => {
  const without = (value: Record<string, unknown>, key: string) =>
    Object.fromEntries(Object.entries(value).filter(([k]) => k !== key));
  const badChoice = (value: typeof chat, choice: Record<string, unknown>) => ({ ...value, choices: [choice] });
  const cases: [Parameters<typeof openAIErrors>[0], unknown][] = [
    ["CreateChatCompletionResponse", without(chat, "id")],
    ["CreateChatCompletionResponse", without(chat, "created")],
    ["CreateChatCompletionResponse", { ...chat, object: "chat.completion.chunk" }],
    ["CreateChatCompletionResponse", badChoice(chat, without(chat.choices[0], "logprobs"))],
    ["CreateChatCompletionResponse", badChoice(chat, without(chat.choices[0], "finish_reason"))],
    ["CreateChatCompletionResponse", badChoice(chat, { ...chat.choices[0], finish_reason: "done" })],
    [
      "CreateChatCompletionResponse",
      badChoice(chat, { ...chat.choices[0], message: { role: "assistant", content: "x" } }),
    ],
    ["CreateChatCompletionResponse", { ...chat, usage: { prompt_tokens: "1", completion_tokens: 2, total_tokens: 3 } }],
    ["CreateChatCompletionStreamResponse", { ...chunk, object: "chat.completion" }],
    ["CreateChatCompletionStreamResponse", { ...chunk, choices: [without(chunk.choices[0], "finish_reason")] }],
    ["CreateCompletionResponse", { ...completion, choices: [without(completion.choices[0], "text")] }],
    ["CreateCompletionResponse", { ...completion, created: "now" }],
    ["ListModelsResponse", { object: "list", data: [{ id: "m" }] }],
    ["ErrorResponse", { error: { message: "bad" } }],
    ["ErrorResponse", { message: "bad" }],
  ];
  for (const [name, value] of cases) {
    assert.notDeepEqual(openAIErrors(name, value), [], `${name} accepted ${JSON.stringify(value)}`);
    assert.throws(() => assertOpenAI(name, value));
  }
});

Deno.test("OpenAPI 3.0 nullable becomes a JSON Schema null alternative", () => {
  assert.deepEqual(
    rewriteNullable({ type: "object", nullable: true, properties: { a: { type: "string", nullable: true } } }),
    {
      anyOf: [{ type: "object", properties: { a: { anyOf: [{ type: "string" }, { type: "null" }] } } }, {
        type: "null",
      }],
    },
  );
  assertOpenAI("CreateChatCompletionStreamResponse", { ...chunk, choices: [{ ...chunk.choices[0], logprobs: null }] });
});

Deno.test("a streamed completion chunk may carry a null finish_reason but must otherwise match the schema", () => {
  const running = { ...completion, usage: undefined, choices: [{ ...completion.choices[0], finish_reason: null }] };
  assertOpenAICompletionChunk(JSON.parse(JSON.stringify(running)));
  assert.throws(() =>
    assertOpenAICompletionChunk({ ...running, choices: [{ ...running.choices[0], finish_reason: "done" }] })
  );
  assert.throws(() => assertOpenAICompletionChunk({ ...running, object: "chat.completion.chunk" }));
  assert.throws(() => assertOpenAICompletionChunk({ ...running, usage: null }));
});
