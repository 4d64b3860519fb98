import assert from "node:assert/strict";
import fc from "fast-check";
import type { RoutePolicy } from "./config.ts";
import { Router, type RouteTarget } from "./router.ts";

/** Deterministic generator (mulberry32) so distribution tests never flake. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A router whose targets are upstream names; those in `ejected` are ejected. */
function router(
  policies: Record<string, RoutePolicy>,
  options: { seed?: number; ejected?: Set<string>; defaultUpstream?: string } = {},
) {
  const ejected = options.ejected ?? new Set();
  const targets = new Map<string, RouteTarget>();
  const target = (name: string) => {
    let found = targets.get(name);
    if (found === undefined) targets.set(name, found = { name, isEjected: () => ejected.has(name) });
    return found;
  };
  const r = new Router(
    { policies: new Map(Object.entries(policies)), defaultUpstream: options.defaultUpstream },
    { random: seeded(options.seed ?? 1), target },
  );
  return { route: (model: string) => r.route(model)?.map((t) => t.name) };
}

function firstChoices(r: ReturnType<typeof router>, model: string, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const first = r.route(model)![0];
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return counts;
}

Deno.test("canary sends about percent% of requests to the canary and the rest to the primary", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100 }), fc.integer(), (percent, seed) => {
      const r = router({ m: { strategy: "canary", primary: "p", canary: "c", percent } }, { seed });
      const n = 4000;
      const share = (firstChoices(r, "m", n).get("c") ?? 0) / n;
      assert.ok(Math.abs(share - percent / 100) < 0.05, `percent ${percent}: canary share ${share}`);
    }),
    { numRuns: 30 },
  );
});

Deno.test("canary retries go to the other upstream: canary falls back to primary", () => {
  const r = router({ m: { strategy: "canary", primary: "p", canary: "c", percent: 100 } });
  assert.deepEqual(r.route("m"), ["c", "p"]);
  const r0 = router({ m: { strategy: "canary", primary: "p", canary: "c", percent: 0 } });
  assert.deepEqual(r0.route("m"), ["p", "c"]);
});

Deno.test("weighted sends requests in proportion to the weights", () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom("a", "b", "c", "d"), fc.integer({ min: 1, max: 20 }), { minKeys: 1 }),
      fc.integer(),
      (weights, seed) => {
        const r = router({ m: { strategy: "weighted", weights } }, { seed });
        const n = 4000;
        const counts = firstChoices(r, "m", n);
        const total = Object.values(weights).reduce((x, y) => x + y, 0);
        for (const [name, w] of Object.entries(weights)) {
          const share = (counts.get(name) ?? 0) / n;
          assert.ok(Math.abs(share - w / total) < 0.05, `${name}: share ${share}, expected ${w / total}`);
        }
      },
    ),
    { numRuns: 30 },
  );
});

Deno.test("weighted with a zero weight never picks that upstream first", () => {
  const r = router({ m: { strategy: "weighted", weights: { a: 0, b: 1 } } });
  assert.equal(firstChoices(r, "m", 500).get("a"), undefined);
});

Deno.test("fallback tries upstreams in order, at most two", () => {
  const r = router({ m: { strategy: "fallback", upstreams: ["x", "y", "z"] } });
  assert.deepEqual(r.route("m"), ["x", "y"]);
});

Deno.test("a model without a policy goes to the default upstream; without a default it has no route", () => {
  const r = router({ m: { strategy: "fallback", upstreams: ["x"] } }, { defaultUpstream: "d" });
  assert.deepEqual(r.route("anything"), ["d"]);
  assert.equal(router({}).route("anything"), undefined);
});

Deno.test("ejected upstreams are skipped while another one can serve, and used when all are ejected", () => {
  const ejected = new Set<string>();
  const r = router({ m: { strategy: "fallback", upstreams: ["x", "y", "z"] } }, { ejected, defaultUpstream: "d" });
  assert.deepEqual(r.route("m"), ["x", "y"]);
  ejected.add("x");
  assert.deepEqual(r.route("m"), ["y", "z"]);
  ejected.add("y").add("z");
  assert.deepEqual(r.route("m"), ["x", "y"]);
  ejected.clear(); // ejection over: back in rotation
  assert.deepEqual(r.route("m"), ["x", "y"]);
  ejected.add("d");
  assert.deepEqual(r.route("other"), ["d"]);
});

Deno.test("a policy's picker reaches the targets of its upstreams; models without a policy get the default", () => {
  const asked: string[] = [];
  const r = new Router({
    policies: new Map<string, RoutePolicy>([
      ["a", { strategy: "fallback", upstreams: ["x"], picker: "prefix" }],
      ["b", { strategy: "canary", primary: "x", canary: "y", percent: 5 }],
    ]),
    defaultUpstream: "x",
  }, {
    target: (name, picker) => {
      asked.push(`${name}:${picker ?? "default"}`);
      return { name, isEjected: () => false };
    },
  });
  assert.deepEqual(asked, ["x:prefix", "x:default", "y:default", "x:default"]);
  assert.deepEqual(r.route("a")!.map((t) => t.name), ["x"]);
});
