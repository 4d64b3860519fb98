/** Client aborts, SIGTERM draining and the seed's smoke test through `deno task start` (scripts/dev.ts). */
import assert from "node:assert/strict";
import { freePort, mockGatewayEnv, spawnDeno, startGateway, startWorker } from "./support/process.ts";
import { scrape } from "./support/prometheus.ts";
import { eventually } from "./support/eventually.ts";

const KEY = "sk-test-lifecycle-112233";
const messages = [{ role: "user", content: "hi" }];

async function refusesConnections(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return false;
  } catch {
    return true;
  }
}

Deno.test("a client that goes away aborts the upstream request, streamed or not", async (t) => {
  await using worker = await startWorker({
    WORKER_TOKEN_DELAY_MS: "200",
    WORKER_MAX_TOKENS: "50",
    WORKER_TTFT_MS: "0",
  });
  await using gateway = await startGateway(mockGatewayEnv(worker.url, KEY));
  const aborts = () => scrape(worker.url, "vllm:request_success_total", { finished_reason: "abort" });

  await t.step("streamed: closing the stream after the first token", async () => {
    const before = await aborts();
    const controller = new AbortController();
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY },
      body: JSON.stringify({ model: "mock-worker", messages, stream: true }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await eventually(async () => await aborts() === before + 1, { what: "the worker counts an abort" });
    await eventually(async () => await scrape(gateway.metricsUrl, "nexus_in_flight_requests") === 0, {
      what: "in-flight back to 0",
    });
    assert.equal(await scrape(gateway.metricsUrl, "nexus_requests_total", { status: "499" }), 1);
  });

  await t.step("not streamed: leaving while the worker is still generating", async () => {
    const before = await aborts();
    const controller = new AbortController();
    const pending = fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY },
      body: JSON.stringify({ model: "mock-worker", messages }),
      signal: controller.signal,
    }).catch(() => "aborted");
    await eventually(async () => await scrape(worker.url, "vllm:num_requests_running") === 1, {
      what: "the worker generates",
    });
    controller.abort();
    assert.equal(await pending, "aborted");
    await eventually(async () => await aborts() === before + 1, { what: "the worker counts an abort" });
  });
});

/** A gateway in front of a paced worker with one stream open (its first chunk read); disposing stops both. */
async function streamInFlight(
  options: { tokens: number; tokenDelayMs: number; drainGraceSeconds: number; drainDelaySeconds?: number },
) {
  const worker = await startWorker({
    WORKER_TOKEN_DELAY_MS: String(options.tokenDelayMs),
    WORKER_MAX_TOKENS: String(options.tokens),
    WORKER_TTFT_MS: "0",
  });
  const gateway = await startGateway(mockGatewayEnv(worker.url, KEY, {
    GATEWAY_DRAIN_GRACE_SECONDS: String(options.drainGraceSeconds),
    GATEWAY_DRAIN_DELAY_SECONDS: String(options.drainDelaySeconds ?? 0),
  })).catch(async (error) => {
    await worker.stop();
    throw error;
  });
  const stop = async () => {
    await gateway.stop();
    await worker.stop();
  };
  try {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY },
      body: JSON.stringify({ model: "mock-worker", messages, stream: true }),
    });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = (await reader.read()).value ?? "";
    /** The rest of the stream until it ends or the connection is cut. */
    const rest = async () => {
      let text = "";
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return text;
          text += value;
        }
      } catch {
        return text;
      }
    };
    return { gateway, first, rest, [Symbol.asyncDispose]: stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One request over its own TCP connection, with `Connection: keep-alive`; returns the status line and headers. */
async function rawRequest(port: number, request: { method: string; path: string; body?: string }): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const body = request.body ?? "";
    const head = `${request.method} ${request.path} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${new TextEncoder().encode(body).byteLength}\r\n` +
      "Connection: keep-alive\r\n\r\n";
    await conn.write(new TextEncoder().encode(head + body));
    let text = "";
    const buffer = new Uint8Array(16 * 1024);
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text.slice(0, text.indexOf("\r\n\r\n"));
  } finally {
    conn.close();
  }
}

Deno.test("SIGTERM: during GATEWAY_DRAIN_DELAY_SECONDS new connections are served and /ready is 503; then they are refused; the stream in flight completes", async () => {
  await using flight = await streamInFlight({
    tokens: 100,
    tokenDelayMs: 100,
    drainGraceSeconds: 30,
    drainDelaySeconds: 5,
  });
  const { gateway } = flight;
  gateway.child.kill("SIGTERM");
  await gateway.child.waitForLine(/still serving while this replica is taken out/);

  // During the delay: not ready, and a new connection's chat completion is answered (and told to close).
  const ready = await fetch(`${gateway.url}/ready`);
  assert.deepEqual([ready.status, await ready.json()], [503, { status: "not ready", reason: "draining" }]);
  const chat = await rawRequest(gateway.port, {
    method: "POST",
    path: "/v1/chat/completions",
    body: JSON.stringify({ model: "mock-worker", messages, max_tokens: 1 }),
  });
  assert.match(chat, /^HTTP\/1\.1 200 /);
  assert.match(chat, /\r\nconnection: close/i);

  await eventually(() => refusesConnections(gateway.port), { what: "new connections are refused after the delay" });
  assert.equal(gateway.child.done, false, "still running while the stream is in flight");
  const text = flight.first + await flight.rest();
  assert.ok(text.trimEnd().endsWith("data: [DONE]"), text);
  const status = await gateway.child.exited;
  assert.equal(status.code, 0);
  assert.ok(gateway.child.output().includes("drained, exiting"));
});

Deno.test("SIGTERM with GATEWAY_DRAIN_DELAY_SECONDS=0: new connections are refused at once, the stream completes", async () => {
  await using flight = await streamInFlight({ tokens: 20, tokenDelayMs: 100, drainGraceSeconds: 30 });
  const { gateway } = flight;
  gateway.child.kill("SIGTERM");
  await eventually(() => refusesConnections(gateway.port), { what: "new connections are refused while draining" });
  assert.equal(gateway.child.done, false, "still running while the stream is in flight");
  const text = flight.first + await flight.rest();
  assert.ok(text.trimEnd().endsWith("data: [DONE]"), text);
  assert.equal((await gateway.child.exited).code, 0);
});

Deno.test("SIGTERM: a stream longer than GATEWAY_DRAIN_GRACE_SECONDS is cut off and the gateway still exits 0", async () => {
  await using flight = await streamInFlight({ tokens: 500, tokenDelayMs: 200, drainGraceSeconds: 1 });
  const { gateway } = flight;
  gateway.child.kill("SIGTERM");
  const status = await gateway.child.exited;
  assert.equal(status.code, 0);
  assert.ok(gateway.child.output().includes("grace period over, exiting"), gateway.child.output());
  assert.ok(!(await flight.rest()).includes("[DONE]"), "the stream did not get to finish");
});

Deno.test("the mock worker drains the same way: served with Connection: close during WORKER_DRAIN_DELAY_MS, then refused", async () => {
  await using worker = await startWorker({
    WORKER_DRAIN_DELAY_MS: "5000",
    WORKER_SHUTDOWN_GRACE_MS: "30000",
    WORKER_TOKEN_DELAY_MS: "100",
    WORKER_MAX_TOKENS: "100",
    WORKER_TTFT_MS: "0",
  });
  const response = await fetch(`${worker.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "mock-worker", messages, stream: true }),
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = (await reader.read()).value ?? "";
  worker.child.kill("SIGTERM");
  await worker.child.waitForLine(/"msg":"draining"/);
  const answer = await rawRequest(worker.port, {
    method: "POST",
    path: "/v1/chat/completions",
    body: JSON.stringify({ model: "mock-worker", messages, max_tokens: 1 }),
  });
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.match(answer, /\r\nconnection: close/i);
  await eventually(() => refusesConnections(worker.port), { what: "new connections are refused after the delay" });
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
  assert.ok(text.trimEnd().endsWith("data: [DONE]"), "the stream in flight completes");
  assert.equal((await worker.child.exited).code, 0);
});

Deno.test("the seed's smoke test works against `deno task start` (scripts/dev.ts)", async () => {
  const gatewayPort = freePort();
  const workerPort = freePort();
  const dev = spawnDeno("scripts/dev.ts", {
    env: {
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_METRICS_PORT: String(freePort()),
      WORKER_PORT: String(workerPort),
    },
  });
  try {
    const url = `http://127.0.0.1:${gatewayPort}`;
    await dev.waitForLine(/^\[dev\] gateway on /); // printed once the worker and the gateway both answer
    // curl -X POST http://localhost:8000/v1/chat/completions -H "X-API-Key: dev-key" \
    //   -H "Content-Type: application/json" -d '{"model":"mock-worker","messages":[{"role":"user","content":"hello"}]}'
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "X-API-Key": "dev-key", "Content-Type": "application/json" },
      body: '{"model":"mock-worker","messages":[{"role":"user","content":"hello"}]}',
    });
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.ok(body.choices[0].message.content.length > 0);
    assert.equal(response.headers.get("x-nexus-upstream"), "mock");
    await dev.waitForLine(/^\[gateway\] .*"msg":"request"/);
    assert.ok(dev.stdout.some((line) => line.startsWith("[worker] ")), dev.output());
    dev.kill("SIGTERM");
    assert.equal((await dev.exited).code, 0);
    assert.ok(await refusesConnections(gatewayPort));
    assert.ok(await refusesConnections(workerPort));
  } finally {
    await dev.stop();
  }
});
