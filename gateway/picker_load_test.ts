import assert from "node:assert/strict";
import fc from "fast-check";
import { chatRequest, eject, fakeSet, setLoad } from "./fake_endpoints.ts";
import { loadScore } from "./picker.ts";
import { LoadPicker } from "./picker_load.ts";

const request = chatRequest([{ role: "user", content: "hi" }]);
const STALE_MS = 300;

Deno.test("load prefers the endpoint with the shortest queue, then the fewest running, from fresh scrapes", () => {
  const clock = { now: 10_000 };
  const set = fakeSet(3, clock);
  const [e0, e1, e2] = set.endpoints;
  setLoad(e0, { waiting: 5, running: 8, at: clock.now });
  setLoad(e1, { waiting: 0, running: 8, at: clock.now });
  setLoad(e2, { waiting: 1, running: 2, at: clock.now });
  const picker = new LoadPicker(set, { staleMs: STALE_MS });
  assert.equal(picker.pick(request), e2); // 2×1 + 2 = 4 < 8 < 18
  setLoad(e2, { waiting: 4, running: 2, at: clock.now });
  assert.equal(picker.pick(request), e1); // 8 < 10
});

Deno.test("load: a fuller KV cache counts against an endpoint", () => {
  const clock = { now: 10_000 };
  const set = fakeSet(2, clock);
  const [e0, e1] = set.endpoints;
  setLoad(e0, { running: 3, kvUsage: 0.95, at: clock.now });
  setLoad(e1, { running: 4, kvUsage: 0.1, at: clock.now });
  assert.equal(new LoadPicker(set, { staleMs: STALE_MS }).pick(request), e1); // 4.4 < 6.8
});

Deno.test("load counts the requests it sent since the last scrape, so a burst spreads before the next scrape", () => {
  const clock = { now: 10_000 };
  const set = fakeSet(4, clock);
  for (const e of set.endpoints) setLoad(e, { running: 1, at: clock.now });
  const picker = new LoadPicker(set, { staleMs: STALE_MS });
  for (let i = 0; i < 40; i++) picker.pick(request)!.begin();
  assert.deepEqual(set.endpoints.map((e) => e.sinceSample), [10, 10, 10, 10]);
});

Deno.test("load takes off the requests that finished since the last scrape, so a freed endpoint is used at once", () => {
  const clock = { now: 10_000 };
  const set = fakeSet(2, clock);
  const [e0, e1] = set.endpoints;
  for (let i = 0; i < 4; i++) e0.begin();
  e1.begin();
  e1.begin();
  setLoad(e0, { running: 4, at: clock.now }); // the scrape saw this gateway's 4 running
  setLoad(e1, { running: 1, at: clock.now }); // it saw only one of this gateway's 2 (the other had just been sent)
  for (let i = 0; i < 4; i++) e0.end(); // all of e0's finished since
  const picker = new LoadPicker(set, { staleMs: STALE_MS });
  assert.equal(picker.pick(request), e0, "e0 is now idle (4 - 4), e1 still runs 1");
  e1.end();
  e1.end();
  assert.equal(e1.sinceSample, -2);
  assert.equal(loadScore(e1, clock.now - STALE_MS), 0, "1 - 2: never below 0");
});

Deno.test("load: an endpoint with a stale or failed scrape is scored by its in-flight count (least_request)", () => {
  const clock = { now: 10_000 };
  const set = fakeSet(2, clock);
  const [e0, e1] = set.endpoints;
  setLoad(e0, { waiting: 0, running: 0, at: clock.now - STALE_MS - 1 }); // stale: says idle
  for (let i = 0; i < 5; i++) e0.begin();
  setLoad(e1, { running: 3, at: clock.now });
  const picker = new LoadPicker(set, { staleMs: STALE_MS });
  assert.equal(picker.pick(request), e1, "5 in flight on e0 beat its stale idle sample");
  for (let i = 0; i < 4; i++) e0.end();
  assert.equal(picker.pick(request), e0, "1 in flight < 3 running");
  e0.load = undefined; // the last scrape failed
  assert.equal(loadScore(e0, clock.now - STALE_MS), 1);
});

Deno.test("load always picks a usable endpoint with the lowest score, never the excluded one", () => {
  const state = fc.record({
    waiting: fc.nat(50),
    running: fc.nat(50),
    kvUsage: fc.double({ min: 0, max: 1, noNaN: true }),
    age: fc.nat(2 * STALE_MS),
    scraped: fc.boolean(),
    inFlight: fc.nat(50),
    ejected: fc.boolean(),
  });
  fc.assert(fc.property(fc.array(state, { minLength: 1, maxLength: 8 }), fc.nat(7), (states, ex) => {
    const clock = { now: 100_000 };
    const set = fakeSet(states.length, clock);
    states.forEach((s, i) => {
      const e = set.endpoints[i];
      for (let k = 0; k < s.inFlight; k++) e.begin();
      if (s.scraped) setLoad(e, { ...s, at: clock.now - s.age });
      if (s.ejected) eject(set, e);
    });
    const exclude = set.endpoints[ex % states.length];
    const chosen = new LoadPicker(set, { staleMs: STALE_MS }).pick(request, exclude);
    const others = set.endpoints.filter((e) => e !== exclude);
    if (others.length === 0) return assert.equal(chosen, undefined);
    assert.ok(chosen && chosen !== exclude);
    const serving = others.filter((e) => !e.breaker.isEjected(clock.now));
    const candidates = serving.length > 0 ? serving : others;
    assert.ok(candidates.includes(chosen));
    const best = Math.min(...candidates.map((e) => loadScore(e, clock.now - STALE_MS)));
    assert.equal(loadScore(chosen, clock.now - STALE_MS), best);
  }));
});
