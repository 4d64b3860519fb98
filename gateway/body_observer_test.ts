/** Reading an answer's usage and model from its last bytes. */
import assert from "node:assert/strict";
import { modelFrom, usageFrom } from "./body_observer.ts";
import { OPERATIONS_BY_PATH } from "./operations.ts";

const chat = OPERATIONS_BY_PATH.get("/v1/chat/completions")!.usage!;
const embeddings = OPERATIONS_BY_PATH.get("/v1/embeddings")!.usage!;

Deno.test("usageFrom reads the counts and the model the same answer names before its usage", () => {
  const whole = '{"id":"c","model":"llama-3-8b","choices":[{"message":{"content":"\\"model\\": no"}}],' +
    '"usage":{"prompt_tokens":12,"completion_tokens":3}}';
  assert.deepEqual(usageFrom(whole, chat), { promptTokens: 12, completionTokens: 3, model: "llama-3-8b" });
  const stream = 'data: {"model":"a","choices":[{"delta":{}}],"usage":null}\n\n' +
    'data: {"model":"b","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\ndata: [DONE]\n\n';
  assert.deepEqual(usageFrom(stream, chat), { promptTokens: 1, completionTokens: 2, model: "b" });
  const vectors = '{"object":"list","data":[{"embedding":[0.1]}],"model":"e5","usage":{"prompt_tokens":4}}';
  assert.deepEqual(usageFrom(vectors, embeddings), { promptTokens: 4, completionTokens: undefined, model: "e5" });
});

Deno.test("no model is read where none is named, or from a cut-off value", () => {
  assert.equal(usageFrom('{"usage":{"prompt_tokens":1}}', chat).model, undefined);
  assert.equal(modelFrom('{"model": "cut'), undefined);
  assert.equal(modelFrom('{"model" : "m/with-slash"}'), "m/with-slash");
});
