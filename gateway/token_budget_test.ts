/**
 * Token budgets in process: the reservation rule, the settle rule, and both through `gateway.handle` with a fake
 * upstream and an in-memory limiter on a frozen clock, so every remaining-tokens header is exact.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { loadConfig } from "./config.ts";
import { setLogLevel } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { OPERATIONS_BY_PATH } from "./operations.ts";
import { MemoryRateLimiter } from "./rate_limit.ts";
import { Gateway } from "./server.ts";
import { reserveTokens, settledTokens } from "./token_budget.ts";
import type { UpstreamClient } from "./upstream_client.ts";
import { CHAT_STREAM, chatAnswer, sseBody } from "../tests/support/fake_upstream.ts";

setLogLevel("error");

const chat = OPERATIONS_BY_PATH.get("/v1/chat/completions")!.tokenCost!;
const embeddings = OPERATIONS_BY_PATH.get("/v1/embeddings")!.tokenCost!;
const audio = OPERATIONS_BY_PATH.get("/v1/audio/transcriptions")!.tokenCost!;
const responses = OPERATIONS_BY_PATH.get("/v1/responses")!.tokenCost!;

Deno.test("a reservation is the body's bytes / 4 rounded up, plus the request's own output cap", () => {
  const reserve = (fields: Record<string, unknown>, cost = chat) =>
    reserveTokens(cost, { bodyBytes: 101, fields, defaultMaxTokens: 1024, budget: 100_000 });
  assert.deepEqual(reserve({ max_tokens: 50 }), { prompt: 26, completion: 50, requested: true, total: 76 });
  assert.equal(reserve({ max_tokens: 50, max_completion_tokens: 7 }).completion, 7, "max_completion_tokens wins");
  assert.equal(reserve({ max_output_tokens: 9 }, responses).completion, 9);
  assert.deepEqual(reserve({}), { prompt: 26, completion: 1024, requested: false, total: 1050 }, "default");
  assert.equal(reserve({ max_tokens: "50" }).completion, 1024, "not a number: the upstream refuses it, not us");
  assert.deepEqual(reserve({ input: "x" }, embeddings), { prompt: 26, completion: 0, requested: false, total: 26 });
});

Deno.test("without a cap the default completion shrinks to fit the key's smallest budget; a cap never does", () => {
  const reserve = (fields: Record<string, unknown>, budget: number) =>
    reserveTokens(chat, { bodyBytes: 40, fields, defaultMaxTokens: 1024, budget });
  assert.deepEqual(reserve({}, 300), { prompt: 10, completion: 290, requested: false, total: 300 });
  assert.equal(reserve({}, 5).total, 10, "a prompt larger than the budget alone: too large, whatever the default");
  assert.equal(reserve({ max_tokens: 2000 }, 300).total, 2010, "the client's own cap is kept (and then too large)");
});

Deno.test("a multipart upload reserves no prompt, only the default completion (audio usage settles the rest)", () => {
  const reservation = reserveTokens(audio, {
    bodyBytes: 4_000_000,
    fields: undefined,
    defaultMaxTokens: 64,
    budget: 1e6,
  });
  assert.deepEqual(reservation, { prompt: 0, completion: 64, requested: false, total: 64 });
});

Deno.test("a request is charged its usage, nothing when no token came, else its reservation", () => {
  fc.assert(fc.property(
    fc.option(fc.nat(10_000), { nil: undefined }),
    fc.option(fc.nat(10_000), { nil: undefined }),
    fc.boolean(),
    fc.nat(10_000),
    (inputTokens, outputTokens, producedTokens, reserved) => {
      const charge = settledTokens({ inputTokens, outputTokens, producedTokens }, reserved);
      if (inputTokens !== undefined || outputTokens !== undefined) {
        assert.equal(charge, (inputTokens ?? 0) + (outputTokens ?? 0));
      } else assert.equal(charge, producedTokens ? reserved : 0);
    },
  ));
});

type Post = UpstreamClient["post"];
const KEY = "sk-token-budget";

/** A gateway whose one key has `tpm` tokens per minute, on a clock that never moves (no refill between requests). */
function setup(post: Post, env: Record<string, string> = {}): Gateway {
  const config = loadConfig({
    GATEWAY_UPSTREAMS: "a=http://a.invalid:1;b=http://b.invalid:1",
    GATEWAY_DEFAULT_UPSTREAM: "a",
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ both: { strategy: "fallback", upstreams: ["a", "b"] } }),
    GATEWAY_API_KEYS: KEY,
    GATEWAY_RATE_LIMIT_RPM: "0",
    GATEWAY_RATE_LIMIT_TPM: "1000",
    GATEWAY_EJECT_AFTER_FAILURES: "0",
    ...env,
  });
  return new Gateway({
    config,
    metrics: new Metrics(),
    limiter: new MemoryRateLimiter({ now: () => 0 }),
    client: { post },
  });
}

/** A chat request whose body is exactly `bytes` long (padded in the message), so its reservation is known. */
function ask(fields: Record<string, unknown>, init: { bytes?: number; signal?: AbortSignal; path?: string } = {}) {
  const base = JSON.stringify({ model: "m", messages: [{ role: "user", content: "" }], ...fields });
  const pad = "x".repeat(Math.max(0, (init.bytes ?? base.length) - base.length));
  const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: pad }], ...fields });
  if (init.bytes !== undefined) assert.equal(body.length, init.bytes);
  return new Request(`http://gw${init.path ?? "/v1/chat/completions"}`, {
    method: "POST",
    headers: { "x-api-key": KEY },
    body,
    signal: init.signal,
  });
}

/** Tokens left for the key: reads the header of an embedding that reserves 6 tokens (and is charged none after). */
async function left(gateway: Gateway): Promise<number> {
  const response = await gateway.handle(
    new Request("http://gw/v1/embeddings", {
      method: "POST",
      headers: { "x-api-key": KEY },
      body: '{"model":"m","input":""}', // 24 bytes: 6 tokens, given back when its usage says 0
    }),
  );
  await response.body?.cancel();
  return Number(response.headers.get("x-ratelimit-remaining-tokens")) + 6;
}

const embedded = () => Response.json({ object: "list", data: [], usage: { prompt_tokens: 0, total_tokens: 0 } });
const whole = chatAnswer;
const streamed = () => new Response(sseBody(CHAT_STREAM), { headers: { "content-type": "text/event-stream" } });

Deno.test("admission reserves bytes/4 + max_tokens and says what is left; a whole answer settles to its usage", async () => {
  const gateway = setup((url) => Promise.resolve(url.endsWith("/embeddings") ? embedded() : whole()));
  const response = await gateway.handle(ask({ max_tokens: 100 }, { bytes: 200 }));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-ratelimit-limit-tokens"), "1000");
  assert.equal(response.headers.get("x-ratelimit-remaining-tokens"), String(1000 - 50 - 100));
  assert.equal(response.headers.get("x-ratelimit-reset-tokens"), "9s", "150 tokens come back in 9 s");
  await response.body?.cancel();
  assert.equal(await left(gateway), 1000 - 5, "settled: charged the 5 tokens of its usage");
});

Deno.test("a stream settles to the usage the gateway asked the upstream for, once its body is over", async () => {
  const gateway = setup((url) => Promise.resolve(url.endsWith("/embeddings") ? embedded() : streamed()));
  const response = await gateway.handle(ask({ max_tokens: 100, stream: true }, { bytes: 200 }));
  assert.equal(response.headers.get("x-ratelimit-remaining-tokens"), "850");
  assert.equal(await left(gateway), 850, "still held while the stream runs");
  const text = await response.text();
  assert.ok(!text.includes('"usage"'), "the client did not ask for usage and gets none");
  assert.equal(await left(gateway), 1000 - 5);
});

Deno.test("a request that failed before any token gives its whole reservation back", async (t) => {
  const cases: Array<[string, Post, number]> = [
    ["every upstream answered 5xx", () => Promise.resolve(new Response("busy", { status: 503 })), 503],
    ["the upstream refused the request (400)", () => Promise.resolve(Response.json({}, { status: 400 })), 400],
    ["no upstream could be reached", () => Promise.reject(new TypeError("connection refused")), 502],
    [
      "the stream broke before its first byte",
      () => Promise.resolve(new Response(sseBody([], "error"), { headers: { "content-type": "text/event-stream" } })),
      200,
    ],
  ];
  for (const [name, post, status] of cases) {
    await t.step(name, async () => {
      const gateway = setup((url, init) => url.endsWith("/embeddings") ? Promise.resolve(embedded()) : post(url, init));
      const response = await gateway.handle(
        ask({ model: "both", max_tokens: 300, stream: status === 200 }, { bytes: 200 }),
      );
      assert.equal(response.status, status);
      assert.equal(response.headers.get("x-ratelimit-remaining-tokens"), "650", "50 + 300 were reserved");
      await response.text();
      assert.equal(await left(gateway), 1000, "nothing charged");
    });
  }
});

Deno.test("a retried request holds one reservation and is charged once, for the answer that came", async () => {
  const gateway = setup((url) =>
    Promise.resolve(
      url.endsWith("/embeddings")
        ? embedded()
        : url.startsWith("http://a.")
        ? new Response("", { status: 503 })
        : whole(),
    )
  );
  const response = await gateway.handle(ask({ model: "both", max_tokens: 100 }, { bytes: 200 }));
  assert.equal(response.headers.get("x-nexus-upstream"), "b");
  await response.body?.cancel();
  assert.equal(await left(gateway), 1000 - 5);
});

Deno.test("a stream cut short after its first token, without usage, is charged its reservation", async () => {
  const gateway = setup((url) =>
    Promise.resolve(
      url.endsWith("/embeddings")
        ? embedded()
        : new Response(sseBody([CHAT_STREAM[0]], "error"), { headers: { "content-type": "text/event-stream" } }),
    )
  );
  const response = await gateway.handle(ask({ max_tokens: 100, stream: true }, { bytes: 200 }));
  assert.match(await response.text(), /upstream_unavailable/);
  assert.equal(await left(gateway), 850);
});

Deno.test("over budget: 429 with x-ratelimit-*-tokens and Retry-After, and the refused request takes nothing", async () => {
  const gateway = setup(() => Promise.resolve(streamed()));
  const big = await gateway.handle(ask({ max_tokens: 900, stream: true }, { bytes: 200 })); // holds 950 meanwhile
  assert.equal(big.status, 200);
  const refused = await gateway.handle(ask({ max_tokens: 60 }, { bytes: 200 }));
  assert.equal(refused.status, 429);
  const body = await refused.json();
  assert.equal(body.error.code, "rate_limit_exceeded");
  assert.equal(body.error.type, "rate_limit_error");
  assert.match(body.error.message, /1000 tokens per minute.*reserves 110 tokens and 50 are left/);
  assert.equal(refused.headers.get("x-ratelimit-remaining-tokens"), "50");
  assert.equal(refused.headers.get("retry-after"), "4", "60 more tokens come back in 3.6 s");
  const fits = await gateway.handle(ask({ max_tokens: 0 }, { bytes: 200 }));
  assert.equal(fits.headers.get("x-ratelimit-remaining-tokens"), "0", "the 50 were still there");
  await Promise.all([big.body?.cancel(), fits.body?.cancel()]);
});

Deno.test("a request larger than a whole budget gets 429 at once, no Retry-After, and x-should-retry: false", async () => {
  const gateway = setup(() => Promise.resolve(whole()), { GATEWAY_RATE_LIMIT_TOKENS_PER_DAY: "5000" });
  const response = await gateway.handle(ask({ max_tokens: 999 }, { bytes: 200 }));
  assert.equal(response.status, 429);
  const body = await response.json();
  assert.equal(body.error.code, "request_exceeds_token_budget");
  assert.match(body.error.message, /1000 tokens per minute: it reserves 1049 tokens \(about 50 prompt tokens/);
  assert.equal(response.headers.get("retry-after"), null);
  assert.equal(response.headers.get("x-should-retry"), "false");
  assert.equal(response.headers.get("x-ratelimit-limit-tokens"), "1000");
  const daily = setup(() => Promise.resolve(whole()), { GATEWAY_RATE_LIMIT_TOKENS_PER_DAY: "500" });
  const tooLarge = await daily.handle(ask({ max_tokens: 600 }));
  assert.match((await tooLarge.json()).error.message, /500 tokens per day/);
  assert.equal(tooLarge.headers.get("x-ratelimit-limit-tokens-day"), "500");
  const noCap = await daily.handle(ask({}));
  assert.equal(noCap.status, 200, "without max_tokens the default shrinks to fit");
  assert.equal(noCap.headers.get("x-ratelimit-remaining-tokens-day"), "0");
  await noCap.body?.cancel();
});

Deno.test("tokenize is not charged, and a key without a token budget gets no token headers", async () => {
  const gateway = setup(() => Promise.resolve(Response.json({ count: 1, tokens: [1] })));
  const tokenize = await gateway.handle(ask({}, { path: "/tokenize" }));
  assert.equal(tokenize.status, 200);
  assert.equal(tokenize.headers.get("x-ratelimit-remaining-tokens"), null);
  await tokenize.body?.cancel();
  const unlimited = setup(() => Promise.resolve(whole()), { GATEWAY_RATE_LIMIT_TPM: "0", GATEWAY_RATE_LIMIT_RPM: "5" });
  const response = await unlimited.handle(ask({ max_tokens: 1_000_000 }));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-ratelimit-remaining-requests"), "4");
  assert.equal(response.headers.get("x-ratelimit-limit-tokens"), null);
  await response.body?.cancel();
});

Deno.test("a settlement the limiter fails (Redis down at the end) is counted; the answer is unaffected", async () => {
  const memory = new MemoryRateLimiter({ now: () => 0 });
  const limiter = {
    admit: memory.admit.bind(memory),
    adjust: () => Promise.reject(new Error("connection is closed")),
    usable: () => true,
    close: () => Promise.resolve(),
  };
  const config = loadConfig({
    GATEWAY_UPSTREAMS: "a=http://a.invalid:1",
    GATEWAY_DEFAULT_UPSTREAM: "a",
    GATEWAY_API_KEYS: KEY,
    GATEWAY_RATE_LIMIT_TPM: "1000",
  });
  const metrics = new Metrics();
  const gateway = new Gateway({ config, metrics, limiter, client: { post: () => Promise.resolve(whole()) } });
  const response = await gateway.handle(ask({ max_tokens: 100 }, { bytes: 200 }));
  assert.equal(response.status, 200);
  assert.equal((await response.json()).usage.total_tokens, 5);
  await new Promise((resolve) => setTimeout(resolve, 0)); // the rejection is handled on the next turn
  assert.match(await metrics.text(), /^nexus_redis_errors_total 1$/m);
  const next = await gateway.handle(ask({ max_tokens: 100 }, { bytes: 200 }));
  assert.equal(next.headers.get("x-ratelimit-remaining-tokens"), "700", "the first reservation stands");
  await next.body?.cancel();
});
