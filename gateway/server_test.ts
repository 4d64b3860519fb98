import assert from "node:assert/strict";
import { HttpError } from "./errors.ts";
import { loadConfig } from "./config.ts";
import { Metrics } from "./metrics.ts";
import { Gateway, parseCompletion, pathOf, readBody } from "./server.ts";

const encode = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

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
  const chat = { model: "m", messages: [{ role: "user", content: "x" }] };
  assert.deepEqual(parseCompletion(encode(chat), "chat"), { model: "m", stream: false, fields: chat });
  const completion = { model: "m", prompt: "x", stream: true };
  assert.deepEqual(parseCompletion(encode(completion), "completions"), {
    model: "m",
    stream: true,
    fields: completion,
  });
  assert.equal(errorOf(() => parseCompletion(encode("{oops"), "chat")).status, 400);
  assert.equal(errorOf(() => parseCompletion(encode([1]), "chat")).status, 400);
  assert.equal(errorOf(() => parseCompletion(encode({ messages: [{}] }), "chat")).param, "model");
  assert.equal(errorOf(() => parseCompletion(encode({ model: "m" }), "chat")).param, "messages");
  assert.equal(errorOf(() => parseCompletion(encode({ model: "m", messages: [] }), "chat")).param, "messages");
  assert.equal(errorOf(() => parseCompletion(encode({ model: "m" }), "completions")).param, "prompt");
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

Deno.test("the path is taken from the URL without the query", () => {
  assert.equal(pathOf("http://h:1/v1/models?x=1"), "/v1/models");
  assert.equal(pathOf("http://h:1/health"), "/health");
  assert.equal(pathOf("http://h:1"), "/");
});

Deno.test("ready: not while draining, nor while the limiter is down with GATEWAY_RATE_LIMIT_FAIL=closed", () => {
  const env = { GATEWAY_UPSTREAMS: "a=http://127.0.0.1:1", GATEWAY_API_KEYS: "k" };
  let usable = true;
  const limiter = {
    check: () => Promise.reject(new Error("down")),
    usable: () => usable,
    close: () => Promise.resolve(),
  };
  const open = new Gateway({ config: loadConfig(env), metrics: new Metrics(), limiter });
  const closed = new Gateway({
    config: loadConfig({ ...env, GATEWAY_RATE_LIMIT_FAIL: "closed" }),
    metrics: new Metrics(),
    limiter,
  });
  assert.equal(open.ready().ready, true);
  assert.equal(closed.ready().ready, true);
  usable = false;
  assert.equal(open.ready().ready, true, "fail open: a dead Redis does not make the gateway unready");
  assert.equal(closed.ready().ready, false);
  usable = true;
  open.startDraining();
  assert.deepEqual(open.ready(), { ready: false, reason: "draining" });
});
