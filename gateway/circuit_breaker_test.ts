import assert from "node:assert/strict";
import { CircuitBreaker } from "./circuit_breaker.ts";

Deno.test("a breaker ejects after N consecutive failures, for the ejection time, and again after a failed probe", () => {
  const policy = { ejectAfterFailures: 3, ejectMs: 500 };
  const breaker = new CircuitBreaker();
  assert.equal(breaker.failure(policy, 0), false);
  assert.equal(breaker.failure(policy, 0), false);
  breaker.success(); // a success ends the streak
  assert.equal(breaker.failure(policy, 0), false);
  assert.equal(breaker.failure(policy, 0), false);
  assert.equal(breaker.failure(policy, 0), true, "the third failure in a row ejects");
  assert.equal(breaker.failure(policy, 100), false, "a failure while ejected does not extend it");
  assert.equal(breaker.isEjected(499), true);
  assert.equal(breaker.isEjected(500), false);
  assert.equal(breaker.failure(policy, 600), true, "the probe fails: out again at once");
  assert.equal(breaker.isEjected(1099), true);
});

Deno.test("ejection is off when the failure threshold is 0", () => {
  const breaker = new CircuitBreaker();
  for (let i = 0; i < 10; i++) assert.equal(breaker.failure({ ejectAfterFailures: 0, ejectMs: 500 }, 0), false);
  assert.equal(breaker.isEjected(0), false);
});
