import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { Metrics } from "./metrics.ts";
import { Gateway, pathOf } from "./server.ts";

Deno.test("the path is taken from the URL without the query", () => {
  assert.equal(pathOf("http://h:1/v1/models?x=1"), "/v1/models");
  assert.equal(pathOf("http://h:1/health"), "/health");
  assert.equal(pathOf("http://h:1"), "/");
});

Deno.test("ready: not while draining, nor while the limiter is down with GATEWAY_RATE_LIMIT_FAIL=closed", () => {
  const env = { GATEWAY_UPSTREAMS: "a=http://127.0.0.1:1", GATEWAY_API_KEYS: "k" };
  let usable = true;
  const limiter = {
    admit: () => Promise.reject(new Error("down")),
    adjust: () => Promise.reject(new Error("down")),
    usable: () => usable,
    close: () => Promise.resolve(),
  };
  const open = new Gateway({ config: loadConfig(env), metrics: new Metrics(), limiter });
  const closed = new Gateway({
    config: loadConfig({ ...env, GATEWAY_RATE_LIMIT_FAIL: "closed" }),
    metrics: new Metrics(),
    limiter,
  });
  assert.equal(open.ready().ready, true);
  assert.equal(closed.ready().ready, true);
  usable = false;
  assert.equal(open.ready().ready, true, "fail open: a dead Redis does not make the gateway unready");
  assert.equal(closed.ready().ready, false);
  usable = true;
  open.startDraining();
  assert.deepEqual(open.ready(), { ready: false, reason: "draining" });
});
