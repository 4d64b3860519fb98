import assert from "node:assert/strict";
import { parseVegetaResults, vegetaTargets } from "./vegeta.ts";

function line(code: number, latencyMs: number, at: string, error = ""): string {
  return JSON.stringify({ code, latency: latencyMs * 1e6, timestamp: at, error, body: null });
}

Deno.test("open-loop latencies count only 2xx answers; failures are counted and the commonest error kept", () => {
  const text = [
    line(200, 1, "2026-01-01T00:00:00.000Z"),
    line(200, 3, "2026-01-01T00:00:00.500Z"),
    line(0, 5000, "2026-01-01T00:00:00.600Z", "Post: context deadline exceeded"),
    line(200, 2, "2026-01-01T00:00:00.998Z"),
    line(500, 1, "2026-01-01T00:00:00.999Z", "500 Internal Server Error"),
    line(0, 5000, "2026-01-01T00:00:00.700Z", "Post: context deadline exceeded"),
    "",
  ].join("\n");
  const result = parseVegetaResults(text, 6);
  assert.equal(result.sent, 6);
  assert.equal(result.ok, 3);
  assert.equal(result.successRatio, 0.5);
  assert.deepEqual([result.p50Ms, result.p99Ms, result.maxMs], [2, 3, 3]);
  assert.equal(result.topError, "Post: context deadline exceeded");
});

Deno.test("vegeta targets name method, URL, headers and the body file", () => {
  const text = vegetaTargets({
    url: "http://127.0.0.1:1/v1/chat/completions",
    headers: { "X-API-Key": "k" },
    body: "{}",
  }, "/tmp/b.json");
  assert.equal(
    text,
    "POST http://127.0.0.1:1/v1/chat/completions\nContent-Type: application/json\nX-API-Key: k\n@/tmp/b.json\n",
  );
});
