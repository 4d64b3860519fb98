import assert from "node:assert/strict";
import { parseWrkOutput, wrkScript } from "./wrk.ts";

const SAMPLE = `Running 5s test @ http://127.0.0.1:4000/v1/chat/completions
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.25ms    8.62ms  94.85ms   94.35%
  84798 requests in 5.09s, 15.04MB read
NEXUS_WRK_RESULT {"requests":84798,"duration_us":5000000,"p50_us":1230,"p99_us":40100,"max_us":94850,"non2xx":798,"socket_errors":2}
Requests/sec:  16670.76
`;

Deno.test("wrk's done() line becomes requests/s of successful answers and latency in ms", () => {
  const result = parseWrkOutput(SAMPLE);
  assert.equal(result.requests, 84798);
  assert.equal(result.requestsPerSecond, 84000 / 5);
  assert.deepEqual([result.p50Ms, result.p99Ms, result.maxMs], [1.23, 40.1, 94.85]);
  assert.deepEqual([result.non2xx, result.socketErrors], [798, 2]);
});

Deno.test("wrk output without a result line is an error that shows the output", () => {
  assert.throws(() => parseWrkOutput("unable to connect to 127.0.0.1:1 Connection refused"), /Connection refused/);
});

Deno.test("the wrk script keeps a body with brackets and quotes intact", () => {
  const body = `{"a":"]]","b":"]=]'\\""}`;
  const script = wrkScript({ url: "http://x/", headers: { "X-API-Key": "k" }, body });
  assert.ok(script.includes(`wrk.body = [==[${body}]==]`));
  assert.ok(script.includes(`wrk.headers[ [[X-API-Key]] ] = [[k]]`));
});
