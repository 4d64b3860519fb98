import assert from "node:assert/strict";
import { UpstreamHealth } from "./upstream_health.ts";

Deno.test("an upstream is ejected after N consecutive failures and comes back after the ejection time", () => {
  let now = 0;
  const ejected: string[] = [];
  const health = new UpstreamHealth({
    ejectAfterFailures: 3,
    ejectMs: 500,
    now: () => now,
    onEject: (n) => ejected.push(n),
  });
  health.failure("u");
  health.failure("u");
  health.success("u"); // a success ends the streak
  health.failure("u");
  health.failure("u");
  assert.equal(health.isEjected("u"), false);
  health.failure("u");
  assert.equal(health.isEjected("u"), true);
  assert.deepEqual(ejected, ["u"]);
  now = 499;
  assert.equal(health.isEjected("u"), true);
  now = 500;
  assert.equal(health.isEjected("u"), false);
  health.failure("u"); // the probe fails: out again at once
  assert.equal(health.isEjected("u"), true);
  now = 1001;
  health.success("u");
  assert.equal(health.isEjected("u"), false);
  health.failure("u");
  assert.equal(health.isEjected("u"), false);
});

Deno.test("ejection is off when the failure threshold is 0", () => {
  const health = new UpstreamHealth({ ejectAfterFailures: 0, ejectMs: 500 });
  for (let i = 0; i < 10; i++) health.failure("u");
  assert.equal(health.isEjected("u"), false);
});
