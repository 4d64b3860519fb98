import assert from "node:assert/strict";
import fc from "fast-check";
import { chatRequest, eject, endpointUrls, fakeSet, seededRandom, setLoad, systemPrompt } from "./fake_endpoints.ts";
import type { Endpoint, EndpointSet } from "./endpoint_set.ts";
import { loadScore } from "./picker.ts";
import { LeastRequestPicker } from "./picker_least_request.ts";
import { PrefixPicker, type PrefixPickerOptions } from "./picker_prefix.ts";

const STALE_MS = 300;
const OPTIONS: PrefixPickerOptions = {
  staleMs: STALE_MS,
  blockBytes: 256,
  cacheBlocks: 10_000,
  loadThreshold: 16,
  minMatch: 0.5,
};

function tenantRequest(tenant: number, question: number, options: { session?: string } = {}) {
  return chatRequest([
    { role: "system", content: systemPrompt(tenant) },
    { role: "user", content: `question ${question}: what is ${question} times ${tenant}?` },
  ], options);
}

/** Picks and starts a request (it stays in flight, raising the endpoint's load). */
function send(picker: PrefixPicker, request: ReturnType<typeof chatRequest>): Endpoint {
  const endpoint = picker.pick(request)!;
  endpoint.begin();
  return endpoint;
}

Deno.test("prefix: 20 requests sharing a long prefix land on one endpoint while its load stays under the threshold", () => {
  const set = fakeSet(4);
  const picker = new PrefixPicker(set, { ...OPTIONS, loadThreshold: 20 });
  const chosen = new Set(Array.from({ length: 20 }, (_, q) => send(picker, tenantRequest(1, q))));
  assert.equal(chosen.size, 1);
  assert.equal([...chosen][0].inFlight, 20);
});

Deno.test("prefix: a hot prefix spills to the least loaded endpoint once its endpoint is threshold more loaded", () => {
  const set = fakeSet(4);
  const picker = new PrefixPicker(set, { ...OPTIONS, loadThreshold: 4 });
  const first = send(picker, tenantRequest(1, 0));
  for (let q = 1; q <= 4; q++) assert.equal(send(picker, tenantRequest(1, q)), first);
  const spilled = send(picker, tenantRequest(1, 5)); // first has 5 in flight > 0 + 4
  assert.notEqual(spilled, first);
  // Both now hold the prefix: the less loaded of the two takes the next ones, never above least + threshold.
  for (let q = 6; q < 40; q++) {
    const least = Math.min(...set.endpoints.map((e) => e.inFlight));
    const e = send(picker, tenantRequest(1, q));
    assert.ok(e.inFlight - 1 <= least + 4, `${e.baseUrl} had ${e.inFlight - 1}, least ${least}`);
  }
});

Deno.test("prefix: each tenant's requests stick to the endpoint its first request went to", () => {
  const set = fakeSet(4);
  const picker = new PrefixPicker(set, OPTIONS);
  const home = [0, 1, 2, 3].map((t) => send(picker, tenantRequest(t, 0)));
  for (let q = 1; q < 10; q++) {
    for (let t = 0; t < 4; t++) {
      const e = picker.pick(tenantRequest(t, q))!;
      assert.equal(e, home[t]);
    }
  }
});

Deno.test("prefix: the endpoint with the longest cached prefix wins", () => {
  const clock = { now: 10_000 };
  const set = fakeSet(3, clock);
  const [e0, e1, e2] = set.endpoints;
  const picker = new PrefixPicker(set, OPTIONS);
  const system = { role: "system", content: systemPrompt(9, 300) };
  const turn1 = [system, { role: "user", content: "the first question, asked at some length ".repeat(8) }];
  const turn2 = [...turn1, { role: "assistant", content: "an answer ".repeat(30) }, { role: "user", content: "next" }];
  const steer = (idle: Endpoint) => {
    for (const e of set.endpoints) setLoad(e, { running: e === idle ? 0 : 10, at: clock.now });
  };
  steer(e1);
  // Nothing cached yet: least_request's choice, which with e0 excluded and e2 busy is e1.
  e2.begin();
  assert.equal(picker.pick(chatRequest([system, { role: "user", content: "other" }]), e0), e1, "e1 gets the prompt");
  e2.end();
  steer(e0);
  assert.equal(picker.pick(chatRequest(turn1), e1), e0, "a retry off e1: e0 now holds the whole first turn");
  steer(e2);
  assert.equal(picker.pick(chatRequest(turn2)), e0, "e0 holds the longer prefix, e1 only the system prompt");
});

Deno.test("prefix: a match on a small share of the prompt (a common opening) counts as none: it goes as least_request", () => {
  const set = fakeSet(2);
  const picker = new PrefixPicker(set, OPTIONS);
  const opening = "You are a helpful assistant. Answer briefly and precisely. ".repeat(5); // about 1 block
  const home = send(picker, chatRequest([{ role: "user", content: opening + "a".repeat(2_000) }]));
  const other = send(picker, chatRequest([{ role: "user", content: opening + "b".repeat(2_000) }]));
  assert.notEqual(other, home, "sharing 1 block of 9 is not enough for affinity");
  assert.equal(picker.pick(chatRequest([{ role: "user", content: opening + "a".repeat(2_000) + "?" }])), home);
});

Deno.test("prefix: fields before the messages do not break affinity; a prompt under one block goes as least_request", () => {
  const set = fakeSet(3);
  const picker = new PrefixPicker(set, OPTIONS);
  const messages = [{ role: "system", content: systemPrompt(3) }, { role: "user", content: "q" }];
  const home = send(picker, chatRequest(messages));
  assert.equal(picker.pick(chatRequest(messages, { fieldsBefore: { stream: true, temperature: 0 } })), home);
  const tiny = [{ role: "user", content: "hi" }];
  const a = send(picker, chatRequest(tiny));
  assert.notEqual(a, home, "no prefix: least_request's choice, never the busier of two");
});

Deno.test("prefix: a session header pins a session to its endpoint, within the load bound", () => {
  const set = fakeSet(3);
  const picker = new PrefixPicker(set, { ...OPTIONS, loadThreshold: 3 });
  const first = send(picker, tenantRequest(1, 0, { session: "s-1" }));
  // Other prompts, same session: the same endpoint while its load stays within least + 3.
  for (let t = 2; t <= 4; t++) assert.equal(send(picker, tenantRequest(t, 0, { session: "s-1" })), first);
  const moved = send(picker, tenantRequest(5, 0, { session: "s-1" })); // first has 4 > 0 + 3
  assert.notEqual(moved, first);
  assert.equal(picker.pick(tenantRequest(6, 0, { session: "s-1" })), moved, "the session follows its new endpoint");
  eject(set, moved);
  assert.notEqual(picker.pick(tenantRequest(6, 1, { session: "s-1" })), moved, "an ejected endpoint is left");
});

Deno.test("prefix: endpoints removed by discovery are never chosen from the index; retries leave the failed one", () => {
  const set = fakeSet(3);
  const picker = new PrefixPicker(set, OPTIONS);
  const home = send(picker, tenantRequest(1, 0));
  const retry = picker.pick(tenantRequest(1, 1), home)!;
  assert.notEqual(retry, home);
  set.replace(set.endpoints.filter((e) => e !== home && e !== retry).map((e) => endpointUrls(Number(e.baseUrl[8]))));
  const [only] = set.endpoints;
  assert.equal(picker.pick(tenantRequest(1, 2)), only);
  assert.equal(picker.pick(tenantRequest(1, 3), only), undefined, "nothing left to retry on");
});

Deno.test("prefix remembers at most its capacity of blocks", () => {
  const set = fakeSet(2);
  const picker = new PrefixPicker(set, { ...OPTIONS, cacheBlocks: 500 });
  for (let t = 0; t < 200; t++) picker.pick(tenantRequest(t, 0));
  assert.ok(picker.rememberedBlocks <= 500 + (500 >> 4), `${picker.rememberedBlocks} blocks`);
});

Deno.test("prefix: without a long enough shared prefix it chooses exactly as least_request does", () => {
  const clock = { now: 10_000 };
  const set = fakeSet(5, clock);
  const prefix = new PrefixPicker(set, { ...OPTIONS, random: seededRandom(7) });
  const least = new LeastRequestPicker(set, { random: seededRandom(7) });
  const opening = "You are a helpful assistant. Answer briefly and precisely. ".repeat(5); // about 1 block of 9
  const started: Endpoint[] = [];
  for (let i = 0; i < 300; i++) {
    // Scraped load unlike the in-flight counts: least_request does not read it, so neither does prefix here.
    if (i % 10 === 0) set.endpoints.forEach((e, k) => setLoad(e, { running: (k * 3 + i) % 7, at: clock.now }));
    if (i === 100) eject(set, set.endpoints[2]);
    const content = i % 5 === 0 ? `hi ${i}` : `${i % 2 === 0 ? opening : ""}question ${i}: ${"x".repeat(2_000)}`;
    const request = chatRequest([{ role: "user", content }]);
    const exclude = i % 7 === 0 ? set.endpoints[i % 5] : undefined;
    const expected = least.pick(request, exclude)!;
    assert.equal(prefix.pick(request, exclude), expected, `request ${i}`);
    expected.begin();
    started.push(expected);
    if (i % 3 === 1) started.shift()!.end();
    clock.now += 10;
  }
});

Deno.test("prefix never picks above the least loaded usable endpoint plus the threshold, unless as least_request", () => {
  const op = fc.record({
    tenant: fc.nat(5),
    session: fc.option(fc.constantFrom("a", "b"), { nil: undefined }),
    finish: fc.nat(7),
    eject: fc.nat(40),
  });
  const params = [fc.integer({ min: 1, max: 6 }), fc.nat(8), fc.nat(), fc.array(op, { maxLength: 60 })] as const;
  fc.assert(
    fc.property(...params, (n, threshold, seed, ops) => {
      const clock = { now: 50_000 };
      const set: EndpointSet = fakeSet(n, clock);
      let draws = 0;
      const source = seededRandom(seed);
      const random = () => (draws++, source());
      const picker = new PrefixPicker(set, { ...OPTIONS, loadThreshold: threshold, random });
      for (const [i, o] of ops.entries()) {
        if (o.eject < n && i % 5 === 0) eject(set, set.endpoints[o.eject]);
        const request = tenantRequest(o.tenant, i, { session: o.session });
        const drawn = draws;
        const chosen = picker.pick(request)!;
        const serving = set.endpoints.filter((e) => !e.breaker.isEjected(clock.now));
        const candidates = serving.length > 0 ? serving : set.endpoints;
        assert.ok(candidates.includes(chosen));
        if (draws > drawn) {
          // No cached prefix: least_request's choice, from the same random draws.
          const replay = seededRandom(seed);
          for (let k = 0; k < drawn; k++) replay();
          assert.equal(chosen, new LeastRequestPicker(set, { random: replay }).pick(request));
        } else {
          const least = Math.min(...candidates.map((e) => loadScore(e, clock.now - STALE_MS)));
          assert.ok(loadScore(chosen, clock.now - STALE_MS) <= least + threshold);
        }
        chosen.begin();
        const finishing = set.endpoints[o.finish % n];
        if (finishing.inFlight > 0) finishing.end();
        clock.now += 10;
      }
    }),
  );
});
