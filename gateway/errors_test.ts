import assert from "node:assert/strict";
import { upstreamErrorBody } from "./errors.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const ctx = { status: 503, upstream: "vllm" };

Deno.test("an upstream's OpenAI-shaped error body passes through unchanged", () => {
  const body = '{"error":{"message":"busy","type":"server_error","param":null,"code":"overloaded"}}';
  assert.equal(upstreamErrorBody(encode(body), ctx), body);
});

Deno.test("vLLM's flat error object is nested under error, keeping its message, type and code", () => {
  const flat =
    '{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}';
  assert.deepEqual(JSON.parse(upstreamErrorBody(encode(flat), { status: 400, upstream: "vllm" })), {
    error: { message: "max_tokens is too large", type: "BadRequestError", param: null, code: "400" },
  });
});

Deno.test("a non-JSON error page becomes an OpenAI error naming the upstream and quoting the text", () => {
  const body = JSON.parse(upstreamErrorBody(encode("no healthy upstream"), ctx));
  assert.deepEqual(body, {
    error: {
      message: 'Upstream "vllm" answered 503: no healthy upstream',
      type: "server_error",
      param: null,
      code: "upstream_error",
    },
  });
  const empty = JSON.parse(upstreamErrorBody(new Uint8Array(0), { status: 404, upstream: "x" }));
  assert.deepEqual([empty.error.message, empty.error.type], ['Upstream "x" answered 404.', "invalid_request_error"]);
  const partial = JSON.parse(upstreamErrorBody(encode('{"error":{"message":"m"}}'), ctx));
  assert.deepEqual(partial, { error: { message: "m", type: "server_error", param: null, code: null } });
});
