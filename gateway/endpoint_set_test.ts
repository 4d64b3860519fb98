import assert from "node:assert/strict";
import { eject, endpointUrls, FAKE_BREAKER, fakeSet } from "./fake_endpoints.ts";
import { EndpointSet } from "./endpoint_set.ts";

Deno.test("replacing the endpoint list keeps the state of endpoints that stay and unlists the others", () => {
  const changes: string[][] = [];
  const set = new EndpointSet("u", [endpointUrls(0), endpointUrls(1)], {
    breaker: FAKE_BREAKER,
    onChange: ({ added, removed }) =>
      changes.push([...added.map((e) => `+${e.baseUrl}`), ...removed.map((e) => `-${e.baseUrl}`)]),
  });
  const [e0, e1] = set.endpoints;
  e1.begin();
  e1.begin();
  set.failure(e1);
  const { added, removed } = set.replace([endpointUrls(2), endpointUrls(1), endpointUrls(2)]);
  assert.deepEqual(set.endpoints.map((e) => e.baseUrl), ["http://e2:8000", "http://e1:8000"], "duplicates dropped");
  assert.equal(set.endpoints[1], e1, "the same object stays");
  assert.equal(e1.inFlight, 2);
  assert.equal(e1.breaker.failures, 1);
  assert.deepEqual(added.map((e) => e.baseUrl), ["http://e2:8000"]);
  assert.deepEqual(removed, [e0]);
  assert.equal(e0.listed, false);
  assert.equal(set.get("http://e0:8000"), undefined);
  e0.end(); // a request that was on a removed endpoint still finishes
  set.replace([endpointUrls(2), endpointUrls(1)]); // no change: no callback
  assert.deepEqual(changes, [["+http://e0:8000", "+http://e1:8000"], ["+http://e2:8000", "-http://e0:8000"]]);
});

Deno.test("the breaker works per endpoint: failures eject only that endpoint, which is probed after the ejection", () => {
  const clock = { now: 1_000 };
  const ejected: string[] = [];
  const set = new EndpointSet("u", [endpointUrls(0), endpointUrls(1)], {
    breaker: FAKE_BREAKER,
    now: () => clock.now,
    onEject: (e) => ejected.push(e.baseUrl),
  });
  const [e0, e1] = set.endpoints;
  set.failure(e0);
  set.failure(e0);
  set.success(e0); // a success ends the streak
  set.failure(e0);
  set.failure(e0);
  assert.equal(e0.breaker.isEjected(clock.now), false);
  set.failure(e0);
  assert.equal(e0.breaker.isEjected(clock.now), true);
  assert.equal(e1.breaker.isEjected(clock.now), false);
  assert.deepEqual(ejected, ["http://e0:8000"]);
  assert.equal(set.allEjected(), false);
  eject(set, e1);
  assert.equal(set.allEjected(), true);
  clock.now += FAKE_BREAKER.ejectMs;
  assert.equal(set.allEjected(), false, "after the ejection time both are probed again");
  set.failure(e0); // the probe fails: out again at once
  assert.equal(e0.breaker.isEjected(clock.now), true);
});

Deno.test("an empty set has every endpoint ejected and describes nothing", () => {
  const set = fakeSet(0);
  assert.equal(set.allEjected(), true);
  assert.deepEqual(set.describe(), []);
});

Deno.test("describe shows each endpoint's in-flight count, ejection and load age", () => {
  const clock = { now: 5_000 };
  const set = fakeSet(2, clock);
  const [e0, e1] = set.endpoints;
  e0.begin();
  e1.load = { waiting: 1, running: 2, kvUsage: 0.5, at: 4_900 };
  eject(set, e1);
  assert.deepEqual(set.describe(), [
    { url: "http://e0:8000", inFlight: 1, ejected: false },
    { url: "http://e1:8000", inFlight: 0, ejected: true, load: { waiting: 1, running: 2, kvUsage: 0.5, ageMs: 100 } },
  ]);
});
