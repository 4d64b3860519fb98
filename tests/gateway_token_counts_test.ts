/**
 * Token counts are exact for streams: the gateway asks the upstream for usage on every stream and takes out what the
 * client did not ask for, so nexus_tokens_total matches the worker's own count and the client's stream is unchanged.
 * Model labels go only to models that were routed to an upstream that knows them.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { assertOpenAI } from "./support/openai_schema.ts";
import { mockGatewayEnv, startGateway, startWorker } from "./support/process.ts";
import { metricValue, scrape } from "./support/prometheus.ts";

const KEY = "sk-test-tokens-778899";
const messages = [{ role: "user" as const, content: "count these words please" }];

/** A stream's bytes with the per-request parts (id, created) made equal, so two answers can be compared. */
function normalized(text: string): string {
  return text.replace(/"id":"[^"]*"/g, '"id":"x"').replace(/"created":\d+/g, '"created":0');
}

Deno.test("streamed chat and completions count exactly the worker's tokens; the client sees only what it asked for", async (t) => {
  await using worker = await startWorker({ WORKER_TOKEN_DELAY_MS: "1", WORKER_MAX_TOKENS: "7", WORKER_TTFT_MS: "1" });
  await using gateway = await startGateway(mockGatewayEnv(worker.url, KEY, { GATEWAY_RATE_LIMIT_RPM: "0" }));
  const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  const generated = () => scrape(worker.url, "vllm:generation_tokens_total");
  const promptTokens = () => scrape(worker.url, "vllm:prompt_tokens_total");
  const counted = (type: string) => scrape(gateway.metricsUrl, "nexus_tokens_total", { type });

  await t.step("stream without include_usage: no usage chunk reaches the client, every token is counted", async () => {
    const [workerBefore, promptBefore, before, promptCountedBefore] = await Promise.all([
      generated(),
      promptTokens(),
      counted("completion"),
      counted("prompt"),
    ]);
    for (let i = 0; i < 3; i++) {
      const stream = await client.chat.completions.create({ model: "mock-worker", messages, stream: true });
      for await (const chunk of stream) {
        assertOpenAI("CreateChatCompletionStreamResponse", chunk);
        assert.ok(chunk.choices.length > 0, "no usage-only chunk");
        assert.ok(!("usage" in chunk), `no usage member: ${JSON.stringify(chunk)}`);
      }
      const text = await client.completions.create({ model: "mock-worker", prompt: "once upon a time", stream: true });
      for await (const chunk of text) assert.ok(chunk.choices.length > 0 && !("usage" in chunk));
    }
    assert.equal(await counted("completion") - before, await generated() - workerBefore);
    assert.equal(await counted("prompt") - promptCountedBefore, await promptTokens() - promptBefore);
    assert.ok(await generated() - workerBefore > 0);
  });

  await t.step("stream with include_usage: the client gets the usage chunk, counted once", async () => {
    const [workerBefore, before] = await Promise.all([generated(), counted("completion")]);
    const stream = await client.chat.completions.create({
      model: "mock-worker",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    assert.equal(usage?.completion_tokens, 7);
    assert.equal(await counted("completion") - before, await generated() - workerBefore);
  });

  await t.step("the client's stream is byte for byte the worker's own answer to its request", async () => {
    for (
      const [path, body] of [
        ["/v1/chat/completions", { model: "mock-worker", messages, stream: true }],
        ["/v1/chat/completions", {
          model: "mock-worker",
          messages,
          stream: true,
          stream_options: { include_usage: false },
        }],
        ["/v1/completions", { model: "mock-worker", prompt: "once upon a time", stream: true }],
      ] as const
    ) {
      const ask = async (base: string) =>
        await (await fetch(`${base}${path}`, {
          method: "POST",
          headers: { "x-api-key": KEY },
          body: JSON.stringify(body),
        })).text();
      const [direct, proxied] = await Promise.all([ask(worker.url), ask(gateway.url)]);
      assert.ok(direct.endsWith("data: [DONE]\n\n"));
      assert.equal(normalized(proxied), normalized(direct), JSON.stringify(body));
    }
  });
});

Deno.test("model labels go only to routed models: 404s for unknown models never take a label", async (t) => {
  // An upstream that knows one model and answers 404 for any other, as vLLM does.
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const { model } = await request.json();
    if (model !== "served-model") {
      return Response.json({ object: "error", message: `The model \`${model}\` does not exist.`, code: 404 }, {
        status: 404,
      });
    }
    return Response.json({ object: "chat.completion", choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } });
  });
  try {
    await using gateway = await startGateway({
      GATEWAY_UPSTREAMS: `u=http://127.0.0.1:${upstream.addr.port}`,
      GATEWAY_DEFAULT_UPSTREAM: "u",
      GATEWAY_API_KEYS: KEY,
      GATEWAY_RATE_LIMIT_RPM: "0",
    });
    await using strict = await startGateway({
      GATEWAY_UPSTREAMS: `u=http://127.0.0.1:${upstream.addr.port}`,
      GATEWAY_ROUTE_POLICIES: JSON.stringify({ "served-model": { strategy: "fallback", upstreams: ["u"] } }),
      GATEWAY_API_KEYS: KEY,
      GATEWAY_RATE_LIMIT_RPM: "0",
    });
    const ask = async (base: string, model: string) => {
      const response = await fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { "x-api-key": KEY },
        body: JSON.stringify({ model, messages }),
      });
      await response.body?.cancel();
      return response.status;
    };

    for (const [name, target] of [["default upstream answers 404", gateway], ["no route: 404", strict]] as const) {
      await t.step(`${name}: 150 typos, then the real model keeps its label`, async () => {
        for (let i = 0; i < 150; i++) assert.equal(await ask(target.url, `typo-${i}`), 404);
        assert.equal(await ask(target.url, "served-model"), 200);
        const text = await (await fetch(`${target.metricsUrl}/metrics`)).text();
        assert.equal(metricValue(text, "nexus_requests_total", { model: "served-model", status: "200" }), 1);
        assert.equal(metricValue(text, "nexus_requests_total", { model: "", status: "404" }), 150);
        assert.ok(!text.includes('model="typo-'), "no typo has a label");
        assert.ok(!text.includes('model="other"'), "nothing was folded into other");
      });
    }
  } finally {
    await upstream.shutdown();
  }
});
