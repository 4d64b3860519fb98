/**
 * The request lifecycle, in process: `gateway.handle(new Request(...))` with a fake upstream client and a subscriber
 * that records every moment. Whatever happens (an answer, a retry, a timeout, a client that leaves, a broken stream,
 * a refusal) `end` comes exactly once, after the client's body is over, and last.
 */
import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { setLogLevel } from "./log.ts";
import type { Attempt, Exchange, LifecycleSubscriber } from "./request_lifecycle.ts";
import { createGateway, type Gateway } from "./server.ts";
import type { UpstreamClient } from "./upstream_client.ts";
import { CHAT_STREAM as STREAM, chatAnswer as answer, sseBody as sse } from "../tests/support/fake_upstream.ts";

setLogLevel("error");

const KEY = "sk-lifecycle";
const encoder = new TextEncoder();
type Post = UpstreamClient["post"];

/** Every moment as a line, per request, plus what `end` saw. */
class Recorder implements LifecycleSubscriber {
  readonly lines: string[] = [];
  readonly ends: Exchange[] = [];

  start(exchange: Exchange): void {
    this.lines.push(`start ${exchange.operation!.name} ${exchange.model} ${exchange.key} stream=${exchange.stream}`);
  }
  attempt(_exchange: Exchange, attempt: Attempt): void {
    this.lines.push(`attempt ${attempt.number} ${attempt.upstream}`);
  }
  retry(_exchange: Exchange, attempt: Attempt): void {
    this.lines.push(`retry ${attempt.upstream}`);
  }
  attemptFailed(_exchange: Exchange, attempt: Attempt): void {
    this.lines.push(`failed ${attempt.upstream} ${attempt.failure}`);
  }
  firstByte(): void {
    this.lines.push("first byte");
  }
  usage(exchange: Exchange): void {
    this.lines.push(`usage ${exchange.inputTokens}/${exchange.outputTokens}`);
  }
  end(exchange: Exchange): void {
    this.lines.push(`end ${exchange.status}`);
    this.ends.push(exchange);
  }

  /** The lines so far, cleared. */
  take(): string[] {
    return this.lines.splice(0);
  }
}

function setup(post: Post, env: Record<string, string> = {}): { gateway: Gateway; recorder: Recorder } {
  const recorder = new Recorder();
  const config = loadConfig({
    GATEWAY_UPSTREAMS: "a=http://a.invalid:1;b=http://b.invalid:1",
    GATEWAY_DEFAULT_UPSTREAM: "a",
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ both: { strategy: "fallback", upstreams: ["a", "b"] } }),
    GATEWAY_API_KEYS: KEY,
    GATEWAY_RATE_LIMIT_RPM: "0",
    GATEWAY_EJECT_AFTER_FAILURES: "0",
    ...env,
  });
  return { gateway: createGateway(config, { client: { post }, subscribers: [recorder] }), recorder };
}

function chat(body: Record<string, unknown>, init: { key?: string; signal?: AbortSignal; path?: string } = {}) {
  return new Request(`http://gw${init.path ?? "/v1/chat/completions"}`, {
    method: "POST",
    headers: { "x-api-key": init.key ?? KEY },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], ...body }),
    signal: init.signal,
  });
}

/** An upstream that never answers: it waits for the abort of its request. */
const silent: Post = (_url, init) =>
  new Promise((_resolve, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));

Deno.test("a whole answer: start, one attempt, usage, then end once with its status", async () => {
  const { gateway, recorder } = setup(() => Promise.resolve(answer()));
  const response = await gateway.handle(chat({ model: "m" }));
  assert.equal(response.status, 200);
  await response.body?.cancel();
  assert.deepEqual(recorder.take(), ["start chat m key1 stream=false", "attempt 1 a", "usage 3/2", "end 200"]);
  const [exchange] = recorder.ends;
  assert.equal(exchange.producedTokens, true);
  assert.equal(exchange.upstream, "a");
});

Deno.test("a stream ends only when its body is over, after its first byte and its usage", async () => {
  const { gateway, recorder } = setup(() =>
    Promise.resolve(new Response(sse(STREAM), { headers: { "content-type": "text/event-stream" } }))
  );
  const response = await gateway.handle(chat({ model: "m", stream: true }));
  assert.deepEqual(recorder.take(), ["start chat m key1 stream=true", "attempt 1 a"], "no end before the body");
  const text = await response.text();
  assert.ok(!text.includes('"usage"'), "the usage the gateway asked for is taken out");
  assert.deepEqual(recorder.take(), ["first byte", "usage 3/2", "end 200"]);
  assert.ok(recorder.ends[0].firstByteMs! >= 0);
});

Deno.test("a 5xx is retried on the next upstream; end comes once, for the answer", async () => {
  const { gateway, recorder } = setup((url) =>
    Promise.resolve(url.startsWith("http://a.") ? new Response("busy", { status: 503 }) : answer())
  );
  const response = await gateway.handle(chat({ model: "both" }));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-nexus-upstream"), "b");
  await response.body?.cancel();
  assert.deepEqual(recorder.take(), [
    "start chat both key1 stream=false",
    "attempt 1 a",
    "failed a status",
    "retry b",
    "attempt 2 b",
    "usage 3/2",
    "end 200",
  ]);
});

Deno.test("every attempt failing ends once: the last 5xx, or 502 when none could be reached", async () => {
  const busy = setup(() => Promise.resolve(new Response("busy", { status: 503 })));
  const answered = await busy.gateway.handle(chat({ model: "both" }));
  assert.equal(answered.status, 503);
  await answered.body?.cancel();
  assert.deepEqual(busy.recorder.take().filter((l) => l.startsWith("end") || l.startsWith("failed")), [
    "failed a status",
    "failed b status",
    "end 503",
  ]);
  assert.equal(busy.recorder.ends[0].producedTokens, false);

  const down = setup(() => Promise.reject(new TypeError("connection refused")));
  const refused = await down.gateway.handle(chat({ model: "both" }));
  assert.equal(refused.status, 502);
  await refused.body?.cancel();
  assert.deepEqual(down.recorder.take().slice(-3), ["attempt 2 b", "failed b connect", "end 502"]);
});

Deno.test("no answer before GATEWAY_FIRST_BYTE_TIMEOUT_MS: one timeout, no retry, end 504 once", async () => {
  const { gateway, recorder } = setup(silent, { GATEWAY_FIRST_BYTE_TIMEOUT_MS: "20" });
  const keepAlive = setInterval(() => {}, 1000); // the deadline sweep's timer does not keep the process alive
  const response = await gateway.handle(chat({ model: "both" })).finally(() => clearInterval(keepAlive));
  assert.equal(response.status, 504);
  await response.body?.cancel();
  assert.deepEqual(recorder.take(), [
    "start chat both key1 stream=false",
    "attempt 1 a",
    "failed a timeout",
    "end 504",
  ]);
});

Deno.test("a client that leaves ends its request once with 499: before the answer, or mid-stream", async (t) => {
  await t.step("before the answer", async () => {
    const { gateway, recorder } = setup(silent);
    const client = new AbortController();
    const pending = gateway.handle(chat({ model: "m" }, { signal: client.signal }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    client.abort();
    assert.equal((await pending).status, 499);
    assert.deepEqual(recorder.take(), ["start chat m key1 stream=false", "attempt 1 a", "end 499"]);
    assert.equal(recorder.ends[0].aborted, true);
  });

  await t.step("mid-stream", async () => {
    const endless = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(STREAM[0]));
      },
    });
    const { gateway, recorder } = setup(() =>
      Promise.resolve(new Response(endless, { headers: { "content-type": "text/event-stream" } }))
    );
    const response = await gateway.handle(chat({ model: "m", stream: true }));
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    await reader.cancel(); // a second cancel changes nothing
    assert.deepEqual(recorder.take(), ["start chat m key1 stream=true", "attempt 1 a", "first byte", "end 499"]);
    assert.equal(recorder.ends[0].producedTokens, true, "the stream had begun");
  });
});

Deno.test("an answer that breaks off ends once: a stream with an error event, a whole answer with 502", async () => {
  const broken = setup(() =>
    Promise.resolve(new Response(sse([STREAM[0]], "error"), { headers: { "content-type": "text/event-stream" } }))
  );
  const stream = await broken.gateway.handle(chat({ model: "m", stream: true }));
  assert.match(await stream.text(), /"code":"upstream_unavailable"/);
  assert.deepEqual(broken.recorder.take().slice(-3), ["first byte", "failed a broken", "end 200"]);
  assert.equal(broken.recorder.ends[0].error, "connection reset");

  const whole = setup(() => Promise.resolve(new Response(sse(['{"id":'], "error"))));
  const response = await whole.gateway.handle(chat({ model: "m" }));
  assert.equal(response.status, 502);
  await response.body?.cancel();
  assert.deepEqual(whole.recorder.take().slice(-2), ["failed a broken", "end 502"]);
});

Deno.test("refusals end once with their status; those before the body was read have no start", async () => {
  const keys = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(keys, `keys:\n  - {name: narrow, key: sk-narrow, models: [only-this]}\n`);
  try {
    const { gateway, recorder } = setup(
      () =>
        Promise.resolve(
          Response.json({ error: { message: "bad", type: "x", param: null, code: null } }, { status: 400 }),
        ),
      { GATEWAY_API_KEYS_FILE: keys, GATEWAY_MAX_BODY_BYTES: "200", GATEWAY_DEFAULT_UPSTREAM: "" },
    );
    const cases: Array<[string, Request, number, string[]]> = [
      ["unknown key", chat({ model: "both" }, { key: "nope" }), 401, ["end 401"]],
      ["no model", chat({}), 400, ["end 400"]],
      ["too large", chat({ model: "both", pad: "x".repeat(300) }), 413, ["end 413"]],
      ["wrong method", new Request("http://gw/v1/embeddings", { headers: { "x-api-key": KEY } }), 405, ["end 405"]],
      ["unknown path", new Request("http://gw/v1/nothing", { headers: { "x-api-key": KEY } }), 404, ["end 404"]],
      ["model not allowed", chat({ model: "both" }, { key: "sk-narrow" }), 403, [
        "start chat both narrow stream=false",
        "end 403",
      ]],
      ["unknown model", chat({ model: "nobody-serves" }), 404, [
        "start chat nobody-serves key1 stream=false",
        "end 404",
      ]],
      ["upstream 4xx", chat({ model: "both" }), 400, ["start chat both key1 stream=false", "attempt 1 a", "end 400"]],
    ];
    for (const [what, request, status, lines] of cases) {
      const response = await gateway.handle(request);
      assert.equal(response.status, status, what);
      await response.body?.cancel();
      assert.deepEqual(recorder.take(), lines, what);
    }
  } finally {
    await Deno.remove(keys);
  }
});

Deno.test("over the rate limit: 429 ends once, without an attempt", async () => {
  const { gateway, recorder } = setup(() => Promise.resolve(answer()), { GATEWAY_RATE_LIMIT_RPM: "1" });
  (await gateway.handle(chat({ model: "m" }))).body?.cancel();
  recorder.take();
  const response = await gateway.handle(chat({ model: "m" }));
  assert.equal(response.status, 429);
  assert.deepEqual(recorder.take(), ["start chat m key1 stream=false", "end 429"]);
});

Deno.test("an attempt's outbound headers can be set by a subscriber, for that attempt only", async () => {
  const seen: Array<Record<string, string>> = [];
  const recorder = new Recorder();
  const tracer: LifecycleSubscriber = {
    attempt: (_exchange, attempt) => attempt.setHeader("traceparent", `00-${"1".repeat(32)}-${attempt.number}-01`),
  };
  const config = loadConfig({
    GATEWAY_UPSTREAMS: "a=http://a.invalid:1;b=http://b.invalid:1",
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ both: { strategy: "fallback", upstreams: ["a", "b"] } }),
    GATEWAY_API_KEYS: KEY,
  });
  const gateway = createGateway(config, {
    client: {
      post(url, init) {
        seen.push(Object.fromEntries(init.headers));
        return Promise.resolve(url.startsWith("http://a.") ? new Response(null, { status: 502 }) : answer());
      },
    },
    subscribers: [recorder, tracer],
  });
  const request = chat({ model: "both" });
  request.headers.set("traceparent", "00-caller-caller-01");
  await (await gateway.handle(request)).body?.cancel();
  assert.deepEqual(seen.map((headers) => headers.traceparent), [
    `00-${"1".repeat(32)}-1-01`,
    `00-${"1".repeat(32)}-2-01`,
  ]);
  assert.equal(seen[0]["x-request-id"], seen[1]["x-request-id"]);
});

Deno.test("multipart operations and the rest of the table go through the same lifecycle", async () => {
  const urls: string[] = [];
  const { gateway, recorder } = setup((url) => {
    urls.push(url);
    return Promise.resolve(Response.json({ text: "ok", usage: { type: "tokens", input_tokens: 4, output_tokens: 1 } }));
  });
  const form = new FormData();
  form.append("file", new File([new Uint8Array(64)], "a.wav"));
  form.append("model", "whisper");
  const audio = new Request("http://gw/v1/audio/transcriptions", {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}` },
    body: form,
  });
  const response = await gateway.handle(audio);
  assert.equal(response.status, 200);
  await response.body?.cancel();
  assert.deepEqual(recorder.take(), [
    "start transcriptions whisper key1 stream=false",
    "attempt 1 a",
    "usage 4/1",
    "end 200",
  ]);
  assert.deepEqual(urls, ["http://a.invalid:1/v1/audio/transcriptions"]);

  const tokenize = await gateway.handle(chat({ model: "m", prompt: "a b" }, { path: "/tokenize" }));
  await tokenize.body?.cancel();
  assert.deepEqual(recorder.take(), ["start tokenize m key1 stream=false", "attempt 1 a", "end 200"]);
  assert.equal(urls.at(-1), "http://a.invalid:1/tokenize");
});

Deno.test("the probes and /v1/models end once too, and nothing stays in flight", async () => {
  const { gateway, recorder } = setup(() => Promise.resolve(answer()));
  for (const path of ["/health", "/ready"]) {
    const response = await gateway.handle(new Request(`http://gw${path}`));
    await response.body?.cancel();
  }
  assert.deepEqual(recorder.take(), ["end 200", "end 200"]);
  assert.equal(recorder.ends.every((exchange) => exchange.quiet), true);
  const text = await gateway.metrics.text();
  assert.match(text, /^nexus_in_flight_requests 0$/m);
});
