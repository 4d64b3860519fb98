/** gateway/load_scraper.ts against real mock worker processes: their vLLM metrics become endpoint load. */
import assert from "node:assert/strict";
import { parseEndpointUrl } from "../gateway/config.ts";
import { type Endpoint, EndpointSet } from "../gateway/endpoint_set.ts";
import { CHAT } from "../gateway/fake_endpoints.ts";
import { LoadScraper } from "../gateway/load_scraper.ts";
import { LoadPicker } from "../gateway/picker_load.ts";
import { eventually } from "./support/eventually.ts";
import { freePort, startWorker } from "./support/process.ts";

const BREAKER = { ejectAfterFailures: 5, ejectMs: 30_000 };
const SLOW = { WORKER_MAX_NUM_SEQS: "1", WORKER_TTFT_MS: "0", WORKER_TOKEN_DELAY_MS: "200", WORKER_MAX_TOKENS: "50" };

function setOf(...urls: string[]): EndpointSet {
  const endpoints = urls.map((url) => parseEndpointUrl(url, { upstream: "u", variable: "test" }));
  return new EndpointSet("u", endpoints, { breaker: BREAKER });
}

/** Starts a streamed completion and returns once the worker answered its headers (it may still be queued). */
async function startStream(url: string, signal: AbortSignal): Promise<void> {
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-worker", prompt: "one two three four", stream: true }),
    signal,
  });
  response.body!.pipeTo(new WritableStream()).catch(() => {}); // read it until the test aborts it
}

Deno.test("the scraper keeps each worker's queue, running count and KV use current; load picks the idle one", async () => {
  await using busy = await startWorker({ ...SLOW, WORKER_KV_BLOCKS: "8" });
  await using idle = await startWorker(SLOW);
  const set = setOf(busy.url, idle.url);
  const [onBusy, onIdle] = set.endpoints;
  const errors: string[] = [];
  const scraper = new LoadScraper({ intervalMs: 50, onError: ({ error }) => errors.push(error) });
  scraper.add(set);
  scraper.start();
  const clients = new AbortController();
  try {
    for (let i = 0; i < 3; i++) await startStream(busy.url, clients.signal);
    await eventually(() => {
      assert.equal(onBusy.load?.running, 1);
      assert.equal(onBusy.load?.waiting, 2);
      assert.equal(onBusy.load?.kvUsage, 0.5, "4 prompt + 50 answer tokens = 4 blocks of 8");
      assert.deepEqual([onIdle.load?.running, onIdle.load?.waiting, onIdle.load?.kvUsage], [0, 0, 0]);
    });
    const picker = new LoadPicker(set, { staleMs: 1_000 });
    const request = { body: new Uint8Array(), operation: CHAT };
    for (let i = 0; i < 5; i++) assert.equal(picker.pick(request), onIdle);
    assert.deepEqual(errors, []);
    clients.abort();
    await eventually(() => assert.deepEqual([onBusy.load?.running, onBusy.load?.waiting], [0, 0]));
  } finally {
    clients.abort();
    await scraper.stop();
  }
});

Deno.test("requests sent after a scrape went out are counted on top of it", async () => {
  await using worker = await startWorker(SLOW);
  const set = setOf(worker.url);
  const [endpoint] = set.endpoints;
  const scraper = new LoadScraper({ intervalMs: 1_000 });
  scraper.add(set);
  endpoint.begin();
  endpoint.begin();
  await scraper.scrapeNow();
  assert.equal(endpoint.sinceSample, 0, "the scrape saw them (they were sent before it)");
  endpoint.begin();
  assert.equal(endpoint.sinceSample, 1);
  endpoint.end();
  endpoint.end();
  assert.equal(endpoint.sinceSample, -1, "finished since the scrape: the server's counts still have it");
  await scraper.stop();
});

Deno.test("a failed scrape clears the endpoint's load, is reported with its cause, and the others still count", async () => {
  await using worker = await startWorker(SLOW);
  const hung = Promise.withResolvers<void>();
  const servers = [
    Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => new Response("no", { status: 404 })),
    Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => new Response("nothing to see here")),
    Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
      await Promise.race([hung.promise, new Promise((resolve) => request.signal.addEventListener("abort", resolve))]);
      return new Response("late");
    }),
  ];
  const [notFound, notMetrics, silent] = servers.map((s) => `http://127.0.0.1:${s.addr.port}`);
  const closed = `http://127.0.0.1:${freePort()}`;
  const set = setOf(worker.url, notFound, notMetrics, silent, closed);
  const failures = new Map<string, string>();
  const scraper = new LoadScraper({
    intervalMs: 1_000,
    timeoutMs: 300,
    onError: ({ endpoint, error }) => failures.set(endpoint.baseUrl, error),
  });
  scraper.add(set);
  for (const endpoint of set.endpoints) endpoint.load = { waiting: 9, running: 9, kvUsage: 0.9, at: 0 };
  try {
    await scraper.scrapeNow();
    const load = (e: Endpoint) => e.load && [e.load.waiting, e.load.running];
    assert.deepEqual(set.endpoints.map(load), [[0, 0], undefined, undefined, undefined, undefined]);
    assert.equal(failures.get(notFound), "status 404");
    assert.equal(failures.get(notMetrics), "no vLLM or SGLang load metrics in the answer");
    assert.equal(failures.get(silent), "no answer within 300 ms");
    assert.match(failures.get(closed)!, /refused|connect/i);
    assert.equal(failures.size, 4);
  } finally {
    hung.resolve();
    await scraper.stop();
    await Promise.all(servers.map((s) => s.shutdown()));
  }
});
