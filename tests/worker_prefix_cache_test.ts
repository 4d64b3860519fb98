/** The mock worker's prefix cache as a process: vLLM's prefix-cache counters and KV use on its real /metrics. */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { eventually } from "./support/eventually.ts";
import { scrape } from "./support/prometheus.ts";
import { startWorker } from "./support/process.ts";

const MODEL = { model_name: "mock-worker" };
const words = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(" ");

Deno.test("a repeated prompt is counted as prefix-cache hits, in tokens, as vLLM counts them", async () => {
  await using worker = await startWorker({
    WORKER_TTFT_MS: "0",
    WORKER_TOKEN_DELAY_MS: "0",
    WORKER_PREFILL_MS_PER_TOKEN: "0.01",
  });
  const openai = new OpenAI({ baseURL: `${worker.url}/v1`, apiKey: "unused", maxRetries: 0 });
  const messages = [
    { role: "system" as const, content: words(200, "sys") },
    { role: "user" as const, content: "first question" },
  ];
  const first = await openai.chat.completions.create({ model: "mock-worker", messages });
  const promptTokens = first.usage!.prompt_tokens; // "system: ..." + "user: first question"
  assert.equal(await scrape(worker.url, "vllm:prefix_cache_queries_total", MODEL), promptTokens);
  assert.equal(await scrape(worker.url, "vllm:prefix_cache_hits_total", MODEL), 0);

  await openai.chat.completions.create({ model: "mock-worker", messages }); // the same prompt: all but the last block
  const expectedHits = Math.floor((promptTokens - 1) / 16) * 16;
  assert.equal(await scrape(worker.url, "vllm:prefix_cache_queries_total", MODEL), 2 * promptTokens);
  assert.equal(await scrape(worker.url, "vllm:prefix_cache_hits_total", MODEL), expectedHits);

  const other = [messages[0], { role: "user" as const, content: "another question entirely, a bit longer" }];
  await openai.chat.completions.create({ model: "mock-worker", messages: other }); // shares the system prompt blocks
  const sharedBlocks = Math.floor((1 + 200) / 16); // "system:" and 200 words come before the user message
  assert.equal(
    await scrape(worker.url, "vllm:prefix_cache_hits_total", MODEL),
    expectedHits + sharedBlocks * 16,
  );
});

Deno.test("vllm:kv_cache_usage_perc shows the blocks running requests hold and drops to 0 when they end", async () => {
  await using worker = await startWorker({
    WORKER_KV_BLOCKS: "10",
    WORKER_TTFT_MS: "0",
    WORKER_TOKEN_DELAY_MS: "200",
    WORKER_MAX_TOKENS: "16",
  });
  const client = new AbortController();
  // 64 prompt tokens + 16 answer tokens = 5 blocks of 10.
  const response = await fetch(`${worker.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-worker", prompt: words(64, "p"), stream: true }),
    signal: client.signal,
  });
  const reader = response.body!.getReader();
  await reader.read(); // generating now
  assert.equal(await scrape(worker.url, "vllm:kv_cache_usage_perc", MODEL), 0.5);
  client.abort();
  await reader.cancel().catch(() => {});
  await eventually(async () => assert.equal(await scrape(worker.url, "vllm:kv_cache_usage_perc", MODEL), 0));
});
