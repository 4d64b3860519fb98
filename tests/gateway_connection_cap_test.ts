/**
 * GATEWAY_UPSTREAM_MAX_CONNECTIONS caps the connections the gateway opens to one upstream endpoint: a burst waits in
 * line for a connection instead of opening one socket per client request. Counted at a raw-socket upstream.
 */
import assert from "node:assert/strict";
import { startGateway } from "./support/process.ts";
import { scrape } from "./support/prometheus.ts";
import { rawServer, write } from "./support/raw_upstream.ts";

const KEY = "sk-test-cap-990011";
const answer = JSON.stringify({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "m",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

Deno.test("with GATEWAY_UPSTREAM_MAX_CONNECTIONS=4, 50 concurrent requests all succeed over at most 4 upstream connections", async () => {
  await using upstream = rawServer(async (reader) => {
    while (await reader.next() !== null) {
      await new Promise((resolve) => setTimeout(resolve, 5)); // the burst piles up meanwhile
      await write(
        reader.conn,
        `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`,
      );
    }
  });
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `capped=${upstream.origin}`,
    GATEWAY_DEFAULT_UPSTREAM: "capped",
    GATEWAY_API_KEYS: KEY,
    GATEWAY_RATE_LIMIT_RPM: "0",
    GATEWAY_UPSTREAM_MAX_CONNECTIONS: "4",
  });
  const statuses = await Promise.all(Array.from({ length: 50 }, async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": KEY },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
    });
    await response.body?.cancel();
    return response.status;
  }));
  assert.deepEqual(new Set(statuses), new Set([200]));
  assert.ok(upstream.state.mostOpen <= 4, `the upstream saw ${upstream.state.mostOpen} connections open at once`);
  const origin = new URL(upstream.origin).host;
  assert.ok(await scrape(gateway.metricsUrl, "nexus_upstream_connection_waits_total", { origin }) > 0);
  assert.equal(await scrape(gateway.metricsUrl, "nexus_upstream_connections_waiting", { origin }), 0);
});
