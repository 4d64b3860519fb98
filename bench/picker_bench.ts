/**
 * Per-request cost of each endpoint picker at 8 endpoints: one pick plus the in-flight count up and down, as the proxy
 * will do per attempt. Run: `deno bench -A bench/picker_bench.ts` (the issue 10 budget: under 10 µs per request).
 * Prompts are realistic JSON chat bodies: a multi-tenant workload (8 tenants, a 2,000-word system prompt each, a short
 * question) and prompts that share nothing (each one new to the prefix index, so it inserts and evicts; made new by
 * rewriting a counter at the start of one body, which stays in the CPU cache as a just-received body would).
 */
import { chatRequest, fakeSet, seededRandom, setLoad, systemPrompt } from "../gateway/fake_endpoints.ts";
import { loadConfig } from "../gateway/config.ts";
import type { PickRequest } from "../gateway/picker.ts";
import { createPicker } from "../gateway/pickers.ts";

const ENDPOINTS = 8;
const routing = loadConfig({ GATEWAY_UPSTREAMS: "u=http://u:1", GATEWAY_AUTH: "off" }).routing;
const clock = { now: 1_000_000 };
const set = fakeSet(ENDPOINTS, clock);
const random = seededRandom(1);
for (const [i, e] of set.endpoints.entries()) {
  setLoad(e, { waiting: i % 3, running: 4 + i, kvUsage: 0.3, at: clock.now });
}

const tenants = Array.from({ length: 8 }, (_, t) => systemPrompt(t));
const multiTenant: PickRequest[] = Array.from({ length: 256 }, (_, i) =>
  chatRequest([
    { role: "system", content: tenants[i % tenants.length] },
    { role: "user", content: `Question ${i}: how many ${i * 7} are there in ${i * 13}?` },
  ]));
const unshared = chatRequest([{ role: "user", content: "000000000000 " + "word ".repeat(2_000) + "?" }]);
const counterAt = new TextDecoder().decode(unshared.body).indexOf("000000000000");
let counter = 0;
/** The unshared body with the next counter value written over its first 12 digits. */
function nextUnshared(): PickRequest {
  let n = ++counter;
  for (let d = counterAt + 11; d >= counterAt; d--, n = Math.floor(n / 10)) unshared.body[d] = 48 + (n % 10);
  return unshared;
}
const short = chatRequest([{ role: "user", content: "Say hello." }]);
console.log(
  `bodies: multi-tenant ${multiTenant[0].body.length} bytes, unshared ${unshared.body.length} bytes, ` +
    `short ${short.body.length} bytes; ${ENDPOINTS} endpoints; prefix block ${routing.prefixBlockBytes} bytes`,
);

function bench(name: string, next: () => PickRequest, picker: ReturnType<typeof createPicker>): void {
  Deno.bench(name, { group: "pick" }, () => {
    const endpoint = picker.pick(next())!;
    endpoint.begin();
    endpoint.end();
  });
}

for (const name of ["round_robin", "least_request", "load"] as const) {
  bench(`${name}`, () => short, createPicker(name, set, { routing, random }));
}
let i = 0;
bench(
  "prefix, multi-tenant 2,000-word prompts",
  () => multiTenant[i++ & 255],
  createPicker("prefix", set, { routing }),
);
bench("prefix, 2,000-word prompts that share nothing", nextUnshared, createPicker("prefix", set, { routing }));
bench("prefix, short prompt (under one block)", () => short, createPicker("prefix", set, { routing }));
