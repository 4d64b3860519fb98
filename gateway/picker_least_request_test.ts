import assert from "node:assert/strict";
import fc from "fast-check";
import { chatRequest, eject, fakeSet, seededRandom } from "./fake_endpoints.ts";
import { LeastRequestPicker } from "./picker_least_request.ts";

const request = chatRequest([{ role: "user", content: "hi" }]);

Deno.test("least_request with two endpoints always takes the one with fewer requests in flight", () => {
  const set = fakeSet(2);
  const [e0, e1] = set.endpoints;
  const picker = new LeastRequestPicker(set, { random: seededRandom(1) });
  for (let i = 0; i < 5; i++) e0.begin();
  e1.begin();
  for (let i = 0; i < 20; i++) assert.equal(picker.pick(request), e1);
});

Deno.test("least_request never picks the busiest, an ejected or the excluded endpoint while others can serve", () => {
  const state = fc.record({ inFlight: fc.nat(20), ejected: fc.boolean() });
  fc.assert(
    fc.property(fc.array(state, { minLength: 2, maxLength: 8 }), fc.nat(1000), fc.nat(7), (states, seed, ex) => {
      const set = fakeSet(states.length);
      const picker = new LeastRequestPicker(set, { random: seededRandom(seed) });
      states.forEach(({ inFlight, ejected }, i) => {
        for (let k = 0; k < inFlight; k++) set.endpoints[i].begin();
        if (ejected) eject(set, set.endpoints[i]);
      });
      const exclude = set.endpoints[ex % states.length];
      const serving = set.endpoints.filter((e) => e !== exclude && !e.breaker.isEjected(set.now()));
      const chosen = picker.pick(request, exclude)!;
      assert.notEqual(chosen, exclude);
      if (serving.length === 0) return;
      assert.ok(serving.includes(chosen), "an ejected endpoint was chosen while another could serve");
      const max = Math.max(...serving.map((e) => e.inFlight));
      const busiest = serving.filter((e) => e.inFlight === max);
      if (serving.length >= 2 && busiest.length === 1) assert.notEqual(chosen, busiest[0]);
    }),
  );
});

Deno.test("least_request keeps in-flight counts even: 800 requests that never finish over 8 endpoints", () => {
  const set = fakeSet(8);
  const picker = new LeastRequestPicker(set, { random: seededRandom(42) });
  for (let i = 0; i < 800; i++) picker.pick(request)!.begin();
  const counts = set.endpoints.map((e) => e.inFlight);
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 3, `uneven: ${counts}`);
});

Deno.test("least_request's retry target is another endpoint; with one endpoint there is none", () => {
  const set = fakeSet(3);
  const picker = new LeastRequestPicker(set, { random: seededRandom(7) });
  const first = picker.pick(request)!;
  for (let i = 0; i < 20; i++) assert.notEqual(picker.pick(request, first), first);
  const single = fakeSet(1);
  assert.equal(new LeastRequestPicker(single).pick(request, single.endpoints[0]), undefined);
});
