/**
 * Every wait on an upstream is bounded: an upstream that sends its status line, headers or half a body and then
 * stalls ends the request within GATEWAY_REQUEST_TIMEOUT_MS with an OpenAI-style error (a JSON error body, or an
 * error event in a stream that had started), and nexus_in_flight_requests returns to 0. Raw-socket upstreams.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { assertOpenAI } from "./support/openai_schema.ts";
import { eventually } from "./support/eventually.ts";
import { type GatewayService, startGateway } from "./support/process.ts";
import { scrape } from "./support/prometheus.ts";
import { rawServer, write } from "./support/raw_upstream.ts";

const KEY = "sk-test-bounded-556677";
const messages = [{ role: "user" as const, content: "hi" }];
/** A bound on each request, so a hang fails the test instead of stalling it (the gateway's timeout is 1 s). */
const CLIENT_BOUND_MS = 30_000;

/** What the stalling upstream sends for each model before it stops sending anything. */
const STALLS: Record<string, string> = {
  "head": "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
  "half-body": `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":"x","choices":[`,
  "stream-head": "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
  "stream-half": "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
    chunk(
      'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"stream-half","choices":[{"index":0,' +
        '"delta":{"role":"assistant","content":"Hel"},"logprobs":null,"finish_reason":null}]}\n\n',
    ),
  "5xx-head": "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
};
STALLS["5xx-retried"] = STALLS["5xx-head"];

function chunk(text: string): string {
  return `${new TextEncoder().encode(text).byteLength.toString(16)}\r\n${text}\r\n`;
}

/** An upstream that answers each request with STALLS[model] and then sends nothing more. */
function stallingUpstream() {
  return rawServer(async (reader) => {
    const request = await reader.next();
    if (request === null) return;
    await write(reader.conn, STALLS[JSON.parse(request.body).model]);
    await reader.next(); // until the gateway gives up and closes the connection
  });
}

async function inFlightBackToZero(gateway: GatewayService): Promise<void> {
  await eventually(async () => await scrape(gateway.metricsUrl, "nexus_in_flight_requests") === 0, {
    what: "nexus_in_flight_requests back to 0",
  });
}

function post(gateway: GatewayService, body: unknown, signal = AbortSignal.timeout(CLIENT_BOUND_MS)) {
  return fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "x-api-key": KEY },
    body: JSON.stringify(body),
    signal,
  });
}

async function expectJsonError(response: Response, expected: { status: number; code: string }): Promise<void> {
  const body = await response.json();
  assert.equal(response.status, expected.status, JSON.stringify(body));
  assertOpenAI("ErrorResponse", body);
  assert.equal(body.error.code, expected.code, JSON.stringify(body));
}

for (const kind of ["pool", "fetch"] as const) {
  Deno.test(`${kind} client: an upstream that stalls after its head or half its body ends in an OpenAI error`, async (t) => {
    await using upstream = stallingUpstream();
    await using gateway = await startGateway({
      GATEWAY_UPSTREAMS: `stall=${upstream.origin};stall2=${upstream.origin}`,
      GATEWAY_DEFAULT_UPSTREAM: "stall",
      GATEWAY_ROUTE_POLICIES: JSON.stringify({
        "5xx-retried": { strategy: "fallback", upstreams: ["stall", "stall2"] },
      }),
      GATEWAY_API_KEYS: KEY,
      GATEWAY_RATE_LIMIT_RPM: "0",
      GATEWAY_EJECT_AFTER_FAILURES: "0",
      GATEWAY_REQUEST_TIMEOUT_MS: "1000",
      GATEWAY_UPSTREAM_CLIENT: kind,
    });
    const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0, timeout: CLIENT_BOUND_MS });

    await t.step("headers and then nothing: 504 upstream_timeout", async () => {
      await expectJsonError(await post(gateway, { model: "head", messages }), {
        status: 504,
        code: "upstream_timeout",
      });
      await inFlightBackToZero(gateway);
    });

    await t.step("half a body and then nothing: 504 upstream_timeout", async () => {
      const response = await post(gateway, { model: "half-body", messages });
      await expectJsonError(response, { status: 504, code: "upstream_timeout" });
      await inFlightBackToZero(gateway);
    });

    await t.step("a 5xx head and then nothing: the upstream's status with an OpenAI error body", async () => {
      await expectJsonError(await post(gateway, { model: "5xx-head", messages }), {
        status: 503,
        code: "upstream_error",
      });
      await inFlightBackToZero(gateway);
    });

    await t.step("a 5xx head and then nothing, retried on another upstream that does the same", async () => {
      const response = await post(gateway, { model: "5xx-retried", messages });
      assert.equal(response.headers.get("x-nexus-upstream"), "stall2");
      await expectJsonError(response, { status: 503, code: "upstream_error" });
      await inFlightBackToZero(gateway);
    });

    await t.step("a stream whose upstream sends headers and then nothing ends with an error event", async () => {
      const stream = await client.chat.completions.create({ model: "stream-head", messages, stream: true });
      await assert.rejects(
        async () => {
          for await (const _ of stream) { /* nothing comes */ }
        },
        (error: unknown) => error instanceof OpenAI.APIError && /did not answer in time/.test(error.message),
      );
      await inFlightBackToZero(gateway);
    });

    await t.step(
      "a stream whose upstream stops mid-answer: the client gets what came, then an error event",
      async () => {
        const response = await post(gateway, { model: "stream-half", messages, stream: true });
        assert.equal(response.status, 200);
        const events = (await response.text()).split("\n\n").filter(Boolean);
        assert.equal(events.length, 2, events.join("\n\n"));
        assert.match(events[0], /"content":"Hel"/);
        const error = JSON.parse(events[1].replace(/^data: /, ""));
        assertOpenAI("ErrorResponse", error);
        assert.equal(error.error.code, "upstream_timeout");
        await inFlightBackToZero(gateway);
      },
    );

    await t.step(
      "a client that leaves while the 5xx body stalls is counted as 499, nothing stays in flight",
      async () => {
        const leaving = new AbortController();
        const pending = post(gateway, { model: "5xx-head", messages }, leaving.signal).catch(() => "left");
        await eventually(async () => await scrape(gateway.metricsUrl, "nexus_in_flight_requests") === 1, {
          what: "the request is in flight",
        });
        leaving.abort();
        assert.equal(await pending, "left");
        await inFlightBackToZero(gateway);
        await eventually(async () => await scrape(gateway.metricsUrl, "nexus_requests_total", { status: "499" }) === 1);
      },
    );
  });
}
