/** Auth, bad input and bad configuration: OpenAI-shaped errors with the right status, and clean startup failures. */
import assert from "node:assert/strict";
import { assertOpenAI } from "./support/openai_schema.ts";
import { eventually } from "./support/eventually.ts";
import { mockGatewayEnv, runDeno, startGateway, startWorker } from "./support/process.ts";
import { scrape } from "./support/prometheus.ts";

const KEY = "sk-test-errors-9876543210";
const chat = { model: "mock-worker", messages: [{ role: "user", content: "hi" }] };

async function expectError(
  response: Response,
  expected: { status: number; code?: string; param?: string; type?: string },
): Promise<void> {
  const body = await response.json();
  assert.equal(response.status, expected.status, JSON.stringify(body));
  assertOpenAI("ErrorResponse", body);
  if (expected.code) assert.equal(body.error.code, expected.code);
  if (expected.param) assert.equal(body.error.param, expected.param);
  if (expected.type) assert.equal(body.error.type, expected.type);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.ok(response.headers.get("x-request-id"));
}

Deno.test("clients get OpenAI-shaped errors for bad keys and bad input", async (t) => {
  await using worker = await startWorker({ WORKER_TOKEN_DELAY_MS: "0", WORKER_TTFT_MS: "0" });
  const keysFile = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    keysFile,
    "keys:\n  - name: limited\n    key: sk-only-m1\n    models: [m1]\n  - name: tiny\n    key: sk-tiny\n    rpm: 1\n",
  );
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `mock=${worker.url}`,
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ "mock-worker": { strategy: "fallback", upstreams: ["mock"] } }),
    GATEWAY_API_KEYS: KEY,
    GATEWAY_API_KEYS_FILE: keysFile,
    GATEWAY_MAX_BODY_BYTES: "1024",
  });
  const post = (path: string, init: { body: BodyInit; headers?: Record<string, string> }) =>
    fetch(`${gateway.url}${path}`, { method: "POST", headers: { "x-api-key": KEY, ...init.headers }, body: init.body });

  await t.step("a missing, wrong or non-Bearer key gets 401, and dev-key is not a default", async () => {
    const cases: Array<Record<string, string>> = [
      {},
      { "x-api-key": "wrong" },
      { authorization: `Basic ${KEY}` },
      { authorization: "Bearer dev-key" },
      { "x-api-key": "dev-key" },
    ];
    for (const headers of cases) {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers,
        body: JSON.stringify(chat),
      });
      await expectError(response, { status: 401, type: "authentication_error" });
    }
    await expectError(await fetch(`${gateway.url}/v1/models`), { status: 401 });
    const empty = await post("/v1/chat/completions", { body: JSON.stringify(chat), headers: { "x-api-key": "" } });
    await expectError(empty, { status: 401 });
    assert.equal(
      await scrape(gateway.metricsUrl, "nexus_requests_total", { model: "", status: "401" }),
      7,
      "401s are counted",
    );
  });

  await t.step("malformed JSON, a missing model and missing messages or prompt get 400", async () => {
    await expectError(await post("/v1/chat/completions", { body: "{not json" }), { status: 400, code: "invalid_json" });
    await expectError(await post("/v1/chat/completions", { body: JSON.stringify({ messages: chat.messages }) }), {
      status: 400,
      param: "model",
    });
    await expectError(await post("/v1/chat/completions", { body: JSON.stringify({ model: "mock-worker" }) }), {
      status: 400,
      param: "messages",
    });
    await expectError(await post("/v1/completions", { body: JSON.stringify({ model: "mock-worker" }) }), {
      status: 400,
      param: "prompt",
    });
  });

  await t.step("a body over GATEWAY_MAX_BODY_BYTES gets 413, declared or streamed without a length", async () => {
    const big = JSON.stringify({ ...chat, messages: [{ role: "user", content: "x".repeat(2000) }] });
    await expectError(await post("/v1/chat/completions", { body: big }), { status: 413, code: "request_too_large" });
    const bytes = new TextEncoder().encode(big);
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 500) controller.enqueue(bytes.slice(i, i + 500));
        controller.close();
      },
    });
    await expectError(await post("/v1/chat/completions", { body: streamed }), { status: 413 });
  });

  await t.step("a model without policy and without default upstream gets 404 model_not_found", async () => {
    const body = JSON.stringify({ ...chat, model: "no-such-model" });
    await expectError(await post("/v1/chat/completions", { body }), { status: 404, code: "model_not_found" });
  });

  await t.step("unknown paths get 404 and wrong methods 405 with Allow, both OpenAI-shaped", async () => {
    await expectError(await fetch(`${gateway.url}/v1/images/generations`, { headers: { "x-api-key": KEY } }), {
      status: 404,
    });
    const wrong: Array<[string, string, string]> = [
      ["GET", "/v1/chat/completions", "POST"],
      ["PUT", "/v1/completions", "POST"],
      ["POST", "/v1/models", "GET, HEAD"],
      ["POST", "/health", "GET, HEAD"],
      ["DELETE", "/ready", "GET, HEAD"],
    ];
    for (const [method, path, allow] of wrong) {
      const response = await fetch(`${gateway.url}${path}`, { method, headers: { "x-api-key": KEY } });
      assert.equal(response.headers.get("allow"), allow, `${method} ${path}`);
      await expectError(response, { status: 405, code: "method_not_allowed" });
    }
    for (const path of ["/health", "/ready"]) {
      const head = await fetch(`${gateway.url}${path}`, { method: "HEAD" });
      await head.body?.cancel();
      assert.equal(head.status, 200, `HEAD ${path}`);
    }
  });

  await t.step("a key from GATEWAY_API_KEYS_FILE may use only its allowed models", async () => {
    const denied = await post("/v1/chat/completions", {
      body: JSON.stringify(chat),
      headers: { "x-api-key": "sk-only-m1" },
    });
    await expectError(denied, { status: 403, code: "model_not_allowed" });
    const models = await fetch(`${gateway.url}/v1/models`, { headers: { "x-api-key": "sk-only-m1" } });
    assert.deepEqual((await models.json()).data, []);
    // Without a default upstream the list is exactly the policies' models.
    const all = await fetch(`${gateway.url}/v1/models`, { headers: { "x-api-key": KEY } });
    assert.deepEqual((await all.json()).data.map((m: { id: string }) => m.id), ["mock-worker"]);
  });

  await t.step("a key's own rpm from the keys file overrides GATEWAY_RATE_LIMIT_RPM", async () => {
    const first = await post("/v1/chat/completions", {
      body: JSON.stringify(chat),
      headers: { "x-api-key": "sk-tiny" },
    });
    await first.body?.cancel();
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("x-ratelimit-limit-requests"), "1");
    const second = await post("/v1/chat/completions", {
      body: JSON.stringify(chat),
      headers: { "x-api-key": "sk-tiny" },
    });
    await expectError(second, { status: 429, code: "rate_limit_exceeded" });
  });
  await Deno.remove(keysFile);
});

Deno.test("the client's key is never sent upstream; the request id and a JSON Content-Type are", async () => {
  const seen: Headers[] = [];
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    seen.push(request.headers);
    return Response.json({ object: "chat.completion" });
  });
  try {
    await using gateway = await startGateway({
      GATEWAY_UPSTREAMS: `rec=http://127.0.0.1:${upstream.addr.port}`,
      GATEWAY_DEFAULT_UPSTREAM: "rec",
      GATEWAY_API_KEYS: KEY,
    });
    const keyHeaders: Array<Record<string, string>> = [{ "x-api-key": KEY }, { authorization: `Bearer ${KEY}` }];
    for (const headers of keyHeaders) {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { ...headers, "x-request-id": "rid-1" },
        body: JSON.stringify(chat),
      });
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
    assert.equal(seen.length, 2);
    for (const headers of seen) {
      assert.equal(headers.get("authorization"), null);
      assert.equal(headers.get("x-api-key"), null);
      assert.equal(headers.get("x-request-id"), "rid-1");
      assert.equal(headers.get("content-type"), "application/json", "the client sent text/plain");
      for (const [, value] of headers) assert.ok(!value.includes(KEY));
    }
  } finally {
    await upstream.shutdown();
  }
});

Deno.test("an upstream's error answer keeps its status and reaches the client in OpenAI's shape", async () => {
  const answers: Record<string, () => Response> = {
    "proxy-page": () => new Response("<html>no healthy upstream</html>", { status: 503 }),
    "vllm-flat": () =>
      Response.json({ object: "error", message: "max_tokens is too large", type: "BadRequestError", code: 400 }, {
        status: 400,
      }),
    "openai-shaped": () =>
      Response.json({ error: { message: "slow down", type: "server_error", param: null, code: "busy" } }, {
        status: 500,
      }),
  };
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    return answers[(await request.json()).model]();
  });
  try {
    await using gateway = await startGateway({
      GATEWAY_UPSTREAMS: `odd=http://127.0.0.1:${upstream.addr.port}`,
      GATEWAY_DEFAULT_UPSTREAM: "odd",
      GATEWAY_API_KEYS: KEY,
      GATEWAY_RATE_LIMIT_RPM: "0",
    });
    const ask = (model: string, stream: boolean) =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "x-api-key": KEY },
        body: JSON.stringify({ ...chat, model, stream }),
      });
    for (const stream of [false, true]) {
      const page = await ask("proxy-page", stream);
      assert.equal(page.headers.get("x-nexus-upstream"), "odd");
      const pageBody = await page.clone().json();
      await expectError(page, { status: 503, code: "upstream_error" });
      assert.match(pageBody.error.message, /no healthy upstream/);
      const flat = await ask("vllm-flat", stream);
      const flatBody = await flat.clone().json();
      await expectError(flat, { status: 400, type: "BadRequestError" });
      assert.equal(flatBody.error.message, "max_tokens is too large");
      const shaped = await ask("openai-shaped", stream);
      const shapedBody = await shaped.clone().json();
      await expectError(shaped, { status: 500, code: "busy" });
      assert.equal(shapedBody.error.message, "slow down");
    }
  } finally {
    await upstream.shutdown();
  }
});

Deno.test("bad startup configuration exits non-zero naming the variable and the bad value", async (t) => {
  const base = {
    GATEWAY_UPSTREAMS: "a=http://127.0.0.1:1;b=http://127.0.0.1:2",
    GATEWAY_API_KEYS: "k",
    GATEWAY_PORT: "0",
  };
  const cases: Array<[string, Record<string, string>, string[]]> = [
    ["invalid JSON in GATEWAY_ROUTE_POLICIES", { GATEWAY_ROUTE_POLICIES: "{oops" }, [
      "GATEWAY_ROUTE_POLICIES",
      "{oops",
    ]],
    [
      "a policy naming an unknown upstream",
      { GATEWAY_ROUTE_POLICIES: '{"m":{"strategy":"fallback","upstreams":["a","ghost"]}}' },
      ["GATEWAY_ROUTE_POLICIES", "ghost"],
    ],
    ["a bad URL", { GATEWAY_UPSTREAMS: "a=http//nope" }, ["GATEWAY_UPSTREAMS", "http//nope"]],
    [
      "a percent outside 0..100",
      { GATEWAY_ROUTE_POLICIES: '{"m":{"strategy":"canary","primary":"a","canary":"b","percent":101}}' },
      ["GATEWAY_ROUTE_POLICIES", "percent", "101"],
    ],
    ["no API keys", { GATEWAY_API_KEYS: "" }, ["GATEWAY_API_KEYS", "GATEWAY_AUTH=off"]],
  ];
  for (const [name, env, fragments] of cases) {
    await t.step(name, async () => {
      const result = await runDeno("gateway/main.ts", { env: { ...base, ...env } });
      assert.notEqual(result.code, 0);
      for (const fragment of fragments) {
        assert.ok(result.stderr.includes(fragment), `${fragment} not in: ${result.stderr}`);
      }
    });
  }
});

Deno.test("an upstream slower than GATEWAY_FIRST_BYTE_TIMEOUT_MS gets 504 upstream_timeout and is aborted", async () => {
  await using worker = await startWorker({ WORKER_TTFT_MS: "5000", WORKER_TOKEN_DELAY_MS: "0" });
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `slow=${worker.url}`,
    GATEWAY_DEFAULT_UPSTREAM: "slow",
    GATEWAY_API_KEYS: KEY,
    GATEWAY_FIRST_BYTE_TIMEOUT_MS: "300",
  });
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "x-api-key": KEY },
    body: JSON.stringify(chat),
  });
  assert.equal(response.headers.get("x-nexus-upstream"), "slow");
  await expectError(response, { status: 504, code: "upstream_timeout" });
  const metrics = await (await fetch(`${gateway.metricsUrl}/metrics`)).text();
  assert.match(metrics, /nexus_upstream_errors_total\{upstream="slow",kind="timeout"\} 1/);
});

Deno.test("a stream longer than GATEWAY_REQUEST_TIMEOUT_MS is cut and the upstream request aborted", async () => {
  await using worker = await startWorker({
    WORKER_TTFT_MS: "0",
    WORKER_TOKEN_DELAY_MS: "200",
    WORKER_MAX_TOKENS: "500",
  });
  await using gateway = await startGateway(mockGatewayEnv(worker.url, KEY, { GATEWAY_REQUEST_TIMEOUT_MS: "1000" }));
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "x-api-key": KEY, "x-request-id": "too-long-1" },
    body: JSON.stringify({ ...chat, stream: true }),
  });
  assert.equal(response.status, 200);
  const text = await response.text().catch(() => "cut");
  assert.ok(!text.includes("[DONE]"), "the stream did not finish");
  const line = await gateway.child.waitForLine((l) => l.includes('"request_id":"too-long-1"'));
  assert.equal(JSON.parse(line).error, "request timeout");
  await eventually(
    async () => await scrape(worker.url, "vllm:request_success_total", { finished_reason: "abort" }) === 1,
    {
      what: "the worker counts the abort",
    },
  );
});

Deno.test("an upstream that dies mid-stream: the client's stream ends without [DONE] and the break is counted", async () => {
  await using worker = await startWorker({
    WORKER_TOKEN_DELAY_MS: "200",
    WORKER_MAX_TOKENS: "50",
    WORKER_TTFT_MS: "0",
  });
  await using gateway = await startGateway(mockGatewayEnv(worker.url, KEY));
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "x-api-key": KEY },
    body: JSON.stringify({ ...chat, stream: true }),
  });
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = (await reader.read()).value ?? "";
  assert.ok(text.startsWith("data: "), text);
  worker.child.kill("SIGKILL");
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
  } catch {
    // The gateway may end the client's stream with an error: either way it must not look complete.
  }
  assert.ok(!text.includes("[DONE]"), "a broken stream must not end like a complete one");
  await eventually(
    async () =>
      await scrape(gateway.metricsUrl, "nexus_upstream_errors_total", { upstream: "mock", kind: "broken" }) === 1,
    { what: "nexus_upstream_errors_total{kind=broken} counts the break" },
  );
  assert.ok(gateway.child.output().includes('"kind":"broken"'), "the failed attempt is logged with its kind");
});
