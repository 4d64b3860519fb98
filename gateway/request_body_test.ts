import assert from "node:assert/strict";
import { HttpError } from "./errors.ts";
import { OPERATIONS_BY_PATH } from "./operations.ts";
import { formFacts, jsonFacts, readBody } from "./request_body.ts";

const encode = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
const operation = (path: string) => OPERATIONS_BY_PATH.get(path)!;
const chat = operation("/v1/chat/completions");
const completions = operation("/v1/completions");

function errorOf(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof HttpError);
    return error;
  }
  throw new Error("expected an HttpError");
}

Deno.test("completion bodies need JSON with a model and messages (chat) or prompt (completions)", () => {
  const body = { model: "m", messages: [{ role: "user", content: "x" }] };
  assert.deepEqual(jsonFacts(encode(body), chat), { model: "m", stream: false, fields: body });
  const completion = { model: "m", prompt: "x", stream: true };
  assert.deepEqual(jsonFacts(encode(completion), completions), { model: "m", stream: true, fields: completion });
  assert.equal(errorOf(() => jsonFacts(encode("{oops"), chat)).status, 400);
  assert.equal(errorOf(() => jsonFacts(encode([1]), chat)).status, 400);
  assert.equal(errorOf(() => jsonFacts(encode({ messages: [{}] }), chat)).param, "model");
  assert.equal(errorOf(() => jsonFacts(encode({ model: "m" }), chat)).param, "messages");
  assert.equal(errorOf(() => jsonFacts(encode({ model: "m", messages: [] }), chat)).param, "messages");
  assert.equal(errorOf(() => jsonFacts(encode({ model: "m" }), completions)).param, "prompt");
});

Deno.test("other JSON operations need only a model; stream counts only where the operation streams", () => {
  const embeddings = operation("/v1/embeddings");
  assert.deepEqual(jsonFacts(encode({ model: "e", input: "x", stream: true }), embeddings).stream, false);
  assert.equal(jsonFacts(encode({ model: "r", input: "x", stream: true }), operation("/v1/responses")).stream, true);
  assert.equal(jsonFacts(encode({ model: "t", prompt: "a b" }), operation("/tokenize")).model, "t");
  const missing = errorOf(() => jsonFacts(encode({ input: "x" }), embeddings));
  assert.deepEqual([missing.status, missing.param, missing.code], [400, "model", "missing_required_parameter"]);
});

Deno.test("a multipart body names its model in a form field; without one, or without a form, it gets 400", async () => {
  const form = new FormData();
  form.append("file", new File([new Uint8Array(300)], "a.wav", { type: "audio/wav" }));
  form.append("model", "whisper");
  const request = new Request("http://x/", { method: "POST", body: form });
  const contentType = request.headers.get("content-type");
  assert.deepEqual(formFacts(await request.bytes(), contentType), {
    model: "whisper",
    stream: false,
    fields: undefined,
  });

  const noModel = new FormData();
  noModel.append("file", new File([new Uint8Array(10)], "a.wav"));
  const bare = new Request("http://x/", { method: "POST", body: noModel });
  const missing = errorOf(() => formFacts(new Uint8Array(0), bare.headers.get("content-type")));
  assert.deepEqual([missing.status, missing.param], [400, "model"]);
  const notForm = errorOf(() => formFacts(encode({ model: "m" }), "application/json"));
  assert.deepEqual([notForm.status, notForm.code], [400, "invalid_content_type"]);
});

Deno.test("bodies over the limit are refused with 413, by Content-Length or by counting", async () => {
  const big = new Request("http://x/", { method: "POST", body: "x".repeat(11) });
  await assert.rejects(readBody(big, 10), (e: unknown) => e instanceof HttpError && e.status === 413);
  const chunked = new Request("http://x/", {
    method: "POST",
    body: new ReadableStream({
      start(c) {
        c.enqueue(encode("x".repeat(6)));
        c.enqueue(encode("x".repeat(6)));
        c.close();
      },
    }),
  });
  await assert.rejects(readBody(chunked, 10), (e: unknown) => e instanceof HttpError && e.status === 413);
  const ok = new Request("http://x/", { method: "POST", body: "x".repeat(10) });
  assert.equal((await readBody(ok, 10)).byteLength, 10);
});
