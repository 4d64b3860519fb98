import assert from "node:assert/strict";
import fc from "fast-check";
import { chatRequest, eject, fakeSet } from "./fake_endpoints.ts";
import { RoundRobinPicker } from "./picker_round_robin.ts";

const request = chatRequest([{ role: "user", content: "hi" }]);

Deno.test("round_robin hands out the endpoints in turn", () => {
  const set = fakeSet(3);
  const picker = new RoundRobinPicker(set);
  const names = Array.from({ length: 7 }, () => picker.pick(request)!.baseUrl.slice(7, 9));
  assert.deepEqual(names, ["e0", "e1", "e2", "e0", "e1", "e2", "e0"]);
});

Deno.test("round_robin: any ejected endpoints are skipped and the others share the requests equally", () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 8 }).chain((n) =>
      fc.tuple(fc.constant(n), fc.array(fc.boolean(), { minLength: n, maxLength: n }))
    ),
    fc.integer({ min: 1, max: 5 }),
    ([n, ejected], rounds) => {
      const set = fakeSet(n);
      const picker = new RoundRobinPicker(set);
      set.endpoints.forEach((e, i) => ejected[i] && eject(set, e));
      const serving = set.endpoints.filter((_, i) => !ejected[i]);
      const expected = serving.length > 0 ? serving : set.endpoints; // all ejected: served anyway
      const counts = new Map<unknown, number>();
      for (let i = 0; i < expected.length * rounds; i++) {
        const e = picker.pick(request)!;
        counts.set(e, (counts.get(e) ?? 0) + 1);
      }
      assert.deepEqual(new Set(counts.keys()), new Set(expected));
      for (const count of counts.values()) assert.equal(count, rounds);
    },
  ));
});

Deno.test("round_robin's retry target is another endpoint; with one endpoint there is none", () => {
  const set = fakeSet(2);
  const picker = new RoundRobinPicker(set);
  const first = picker.pick(request)!;
  for (let i = 0; i < 4; i++) assert.notEqual(picker.pick(request, first), first);
  const single = new RoundRobinPicker(fakeSet(1));
  const only = single.pick(request)!;
  assert.equal(single.pick(request, only), undefined);
  assert.equal(new RoundRobinPicker(fakeSet(0)).pick(request), undefined);
});
