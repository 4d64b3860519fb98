/**
 * The rest of the OpenAI surface through a real gateway and real mock workers: embeddings, responses (streamed and
 * not), audio transcriptions and translations through the official openai client, rerank, score, tokenize and
 * detokenize over raw HTTP; answers checked against OpenAI's schemas where OpenAI defines the endpoint. Then
 * /v1/models across several upstreams, one of them down.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { assertOpenAI, assertOpenAIResponseEvent } from "./support/openai_schema.ts";
import { freePort, mockGatewayEnv, startGateway, startWorker } from "./support/process.ts";
import { scrape } from "./support/prometheus.ts";

const KEY = "sk-test-endpoints-24680";
const MODEL = "mock-worker";
const FAST = { WORKER_TOKEN_DELAY_MS: "0", WORKER_TTFT_MS: "0", WORKER_MAX_TOKENS: "6", WORKER_EMBEDDING_DIM: "8" };

function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "x-api-key": KEY, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

/** An upload of `size` bytes, as a file field. */
function audio(size: number): File {
  return new File([new Uint8Array(size).fill(7)], "speech.wav", { type: "audio/wav" });
}

Deno.test("every endpoint of the table works through the gateway with the same keys, routing and metrics", async (t) => {
  await using failing = await startWorker({ ...FAST, WORKER_FAIL_STATUS: "503" });
  await using worker = await startWorker({ ...FAST, WORKER_LOG_REQUESTS: "true" });
  await using gateway = await startGateway(
    mockGatewayEnv(worker.url, KEY, {
      GATEWAY_UPSTREAMS: `mock=${worker.url};failing=${failing.url}`,
      GATEWAY_ROUTE_POLICIES: JSON.stringify({ retried: { strategy: "fallback", upstreams: ["failing", "mock"] } }),
      GATEWAY_MAX_BODY_BYTES: String(64 * 1024),
      GATEWAY_EJECT_AFTER_FAILURES: "0",
    }),
  );
  const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  const tokens = (type: string) => scrape(gateway.metricsUrl, "nexus_tokens_total", { model: MODEL, type });

  await t.step(
    "embeddings: the openai client gets one unit vector per input; the raw answer is schema-valid",
    async () => {
      const before = await tokens("prompt");
      const { data, response } = await client.embeddings.create({ model: MODEL, input: ["red fox", "blue"] })
        .withResponse();
      assert.equal(response.headers.get("x-nexus-upstream"), "mock");
      assert.deepEqual(data.data.map((d) => d.embedding.length), [8, 8]);
      const norm = Math.hypot(...data.data[0].embedding);
      assert.ok(Math.abs(norm - 1) < 1e-5);
      assert.deepEqual(data.usage, { prompt_tokens: 3, total_tokens: 3 });
      const raw = await post(`${gateway.url}/v1/embeddings`, {
        model: MODEL,
        input: "red fox",
        encoding_format: "float",
      });
      const body = await raw.json();
      assertOpenAI("CreateEmbeddingResponse", body);
      assert.deepEqual(body.data[0].embedding, data.data[0].embedding.map((x) => Math.fround(x)));
      assert.equal(await tokens("prompt"), before + 5, "input tokens counted from both answers' usage");
    },
  );

  await t.step("responses: a whole answer and a stream validate against OpenAI's schemas", async () => {
    const { data, response } = await client.responses.create({ model: MODEL, input: "tell me a story" })
      .withResponse();
    assert.equal(response.headers.get("x-nexus-upstream"), "mock");
    assert.equal(data.status, "completed");
    assert.equal(data.output_text.split(" ").length, 6);
    const raw = await (await post(`${gateway.url}/v1/responses`, { model: MODEL, input: "tell me a story" })).json();
    assertOpenAI("Response", raw);
    assert.equal(raw.output[0].content[0].text, data.output_text, "the same prompt, the same answer");

    const before = await tokens("completion");
    const stream = await client.responses.create({ model: MODEL, input: "tell me a story", stream: true });
    let text = "";
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      assertOpenAIResponseEvent(event);
      if (event.type === "response.output_text.delta") text += event.delta;
      if (event.type === "response.completed") completed = event.response;
    }
    assert.equal(text, data.output_text);
    assert.equal(completed?.usage?.output_tokens, 6);
    assert.equal(await tokens("completion"), before + 6, "the stream's usage, read from its last event");
  });

  await t.step("audio: transcriptions and translations of an upload, text derived from its size", async () => {
    const first = await client.audio.transcriptions.create({ model: MODEL, file: audio(3000) });
    assertOpenAI("CreateTranscriptionResponseJson", first);
    assert.ok(first.text.length > 0);
    const same = await client.audio.transcriptions.create({ model: MODEL, file: audio(3000) });
    assert.equal(same.text, first.text);
    const other = await client.audio.transcriptions.create({ model: MODEL, file: audio(3001) });
    assert.notEqual(other.text, first.text);
    assert.deepEqual(first.usage, {
      type: "tokens",
      input_tokens: 3,
      output_tokens: first.text.split(" ").length,
      total_tokens: 3 + first.text.split(" ").length,
    });
    const translated = await client.audio.translations.create({ model: MODEL, file: audio(3000) });
    assertOpenAI("CreateTranslationResponseJson", translated);
    assert.notEqual(translated.text, first.text);
  });

  await t.step("audio without a model gets 400; an upload over the body limit gets 413", async () => {
    const form = new FormData();
    form.append("file", audio(100));
    const missing = await fetch(`${gateway.url}/v1/audio/transcriptions`, {
      method: "POST",
      headers: { "x-api-key": KEY },
      body: form,
    });
    assert.equal(missing.status, 400);
    const error = await missing.json();
    assertOpenAI("ErrorResponse", error);
    assert.deepEqual([error.error.param, error.error.code], ["model", "missing_required_parameter"]);
    await assert.rejects(
      client.audio.transcriptions.create({ model: MODEL, file: audio(100 * 1024) }),
      (e) => e instanceof OpenAI.APIError && e.status === 413,
    );
  });

  await t.step("rerank (v1 and v2) and score rank by word overlap", async () => {
    const documents = ["blue whale", "the red fox jumps", "a red door"];
    for (const path of ["/v1/rerank", "/v2/rerank"]) {
      const response = await post(`${gateway.url}${path}`, { model: MODEL, query: "red fox", documents, top_n: 2 });
      assert.equal(response.status, 200, path);
      const body = await response.json();
      assert.deepEqual(body.results.map((r: { index: number }) => r.index), [1, 2], path);
      assert.equal(body.model, MODEL);
    }
    const scored = await post(`${gateway.url}/v1/score`, { model: MODEL, text_1: "red fox", text_2: documents });
    assert.deepEqual((await scored.json()).data.map((d: { score: number }) => d.score), [0, 1, 0.5]);
  });

  await t.step("tokenize counts as a chat completion does, detokenize turns the mock's words back", async () => {
    const messages = [{ role: "user" as const, content: "count these four words" }];
    const counted = await (await post(`${gateway.url}/tokenize`, { model: MODEL, messages })).json();
    const chat = await client.chat.completions.create({ model: MODEL, messages });
    assert.equal(counted.count, chat.usage?.prompt_tokens);
    assert.equal(counted.tokens.length, counted.count);
    const answer = chat.choices[0].message.content!;
    const ids = (await (await post(`${gateway.url}/tokenize`, { model: MODEL, prompt: answer })).json()).tokens;
    const back = await (await post(`${gateway.url}/detokenize`, { model: MODEL, tokens: ids })).json();
    assert.equal(back.prompt, answer);
  });

  await t.step("a model routed by policy is retried on its second upstream when the first fails", async () => {
    const response = await post(`${gateway.url}/v1/embeddings`, { model: "retried", input: "x" });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-nexus-upstream"), "mock");
    await response.body?.cancel();
    assert.equal(await scrape(gateway.metricsUrl, "nexus_retries_total", { upstream: "mock" }), 1);
  });

  await t.step("keys are checked and each request leaves its log line, with the upstream's request id", async () => {
    const refused = await post(`${gateway.url}/v1/score`, { model: MODEL, text_1: "a", text_2: "b" }, {
      "x-api-key": "wrong",
    });
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    const response = await post(`${gateway.url}/detokenize`, { model: MODEL, tokens: [1] }, {
      "x-request-id": "tok-1",
    });
    await response.body?.cancel();
    const line = JSON.parse(
      await gateway.child.waitForLine(/"request_id":"tok-1".*"msg":"request"|"msg":"request".*"request_id":"tok-1"/),
    );
    assert.deepEqual([line.path, line.model, line.upstream, line.status], ["/detokenize", MODEL, "mock", 200]);
    await worker.child.waitForLine(/"path":"\/detokenize".*"request_id":"tok-1"/);
  });
});

Deno.test("/v1/models lists every upstream's models and the policy models, even with an upstream down", async () => {
  await using alpha = await startWorker({ ...FAST, WORKER_MODEL: "alpha" });
  await using beta = await startWorker({ ...FAST, WORKER_MODEL: "beta", WORKER_BASE_PATH: "/openai" });
  const keys = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    keys,
    `keys:\n  - {name: all, key: ${KEY}}\n  - {name: narrow, key: sk-narrow, models: [beta]}\n`,
  );
  try {
    await using gateway = await startGateway({
      GATEWAY_UPSTREAMS: `a=${alpha.url};b=${beta.url}/openai;down=http://127.0.0.1:${freePort()}`,
      GATEWAY_DEFAULT_UPSTREAM: "a",
      GATEWAY_ROUTE_POLICIES: JSON.stringify({ "canary-model": { strategy: "fallback", upstreams: ["down", "b"] } }),
      GATEWAY_API_KEYS_FILE: keys,
    });
    const list = async (key: string) => {
      const response = await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(response.status, 200);
      const body = await response.json();
      assertOpenAI("ListModelsResponse", body);
      return body.data.map((m: { id: string }) => m.id).sort();
    };
    assert.deepEqual(await list(KEY), ["alpha", "beta", "canary-model"]);
    assert.deepEqual(await list(KEY), ["alpha", "beta", "canary-model"], "from the cache the second time");
    assert.deepEqual(await list("sk-narrow"), ["beta"]);
    await gateway.child.waitForLine(/"msg":"cannot list an upstream's models".*"upstream":"down"/);
  } finally {
    await Deno.remove(keys);
  }
});
