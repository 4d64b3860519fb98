/** Endpoint sets with hand-set states, for picker tests and the picker benchmark. */
import { parseEndpointUrl } from "./config.ts";
import { type Endpoint, EndpointSet } from "./endpoint_set.ts";
import { OPERATIONS_BY_PATH } from "./operations.ts";
import type { PickRequest } from "./picker.ts";

/** The chat completions operation. */
export const CHAT = OPERATIONS_BY_PATH.get("/v1/chat/completions")!;

/** Breaker settings of fake sets: 3 failures eject for 1 s. */
export const FAKE_BREAKER = { ejectAfterFailures: 3, ejectMs: 1_000 };

/** A set of `count` endpoints `http://e<i>:8000` on a clock the test controls (`clock.now`, ms). */
export function fakeSet(count: number, clock: { now: number } = { now: 1_000_000 }): EndpointSet {
  const urls = Array.from({ length: count }, (_, i) => endpointUrls(i));
  return new EndpointSet("u", urls, { breaker: FAKE_BREAKER, now: () => clock.now });
}

/** The URLs of fake endpoint `i`. */
export function endpointUrls(i: number) {
  return parseEndpointUrl(`http://e${i}:8000`, { upstream: "u", variable: "test" });
}

/** Gives `endpoint` a scraped load that arrived at `at`. */
export function setLoad(
  endpoint: Endpoint,
  load: { waiting?: number; running?: number; kvUsage?: number; at: number },
): void {
  endpoint.load = { waiting: load.waiting ?? 0, running: load.running ?? 0, kvUsage: load.kvUsage ?? 0, at: load.at };
  endpoint.inFlightAtSample = endpoint.inFlight;
}

/** Takes `endpoint` out for the breaker's ejection time. */
export function eject(set: EndpointSet, endpoint: Endpoint): void {
  for (let i = 0; i < FAKE_BREAKER.ejectAfterFailures; i++) set.failure(endpoint);
}

/** A chat request body with these messages (system prompt first), as a client would send it. */
export function chatRequest(
  messages: Array<{ role: string; content: string }>,
  options: { session?: string; fieldsBefore?: Record<string, unknown> } = {},
): PickRequest {
  const body = JSON.stringify({ ...options.fieldsBefore, model: "m", messages, max_tokens: 16 });
  return { body: new TextEncoder().encode(body), operation: CHAT, session: options.session };
}

/** A long system prompt of `words` words, distinct per `tenant`. */
export function systemPrompt(tenant: number, words = 2_000): string {
  const parts = [`You are the assistant of tenant ${tenant}.`];
  for (let i = 0; i < words; i++) parts.push(`w${(i * 7919 + tenant * 104729) % 1000}`);
  return parts.join(" ");
}

/** A small seeded generator (mulberry32), for pickers that sample at random. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
