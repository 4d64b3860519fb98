/**
 * The routing suite's load: streamed chat completions sent open loop (Poisson arrivals at a fixed rate, whatever the
 * answers do), each timed from send to its first token and to its end. A request is one tenant's long shared system
 * prompt plus its own short question, or, without tenants, a prompt of its own from the first word on. Seeded, so two
 * targets get the same requests in the same order at the same times. Run as its own process (pinned by the bench);
 * prints one JSON RoutingSample on stdout.
 * Usage: deno run -A bench/routing_client.ts <spec.json>
 */

import { seededRandom } from "../gateway/fake_endpoints.ts";
import { countTokens } from "./stream_client.ts";

/** What to send, how fast, for how long. */
export interface RoutingLoad {
  url: string;
  headers: Record<string, string>;
  /** Requests per second, on average (Poisson arrivals). */
  rate: number;
  /** Seconds of arrivals that are measured (the client then waits for the answers). */
  seconds: number;
  /** Seconds of arrivals before those, sent the same way but not measured (caches fill, queues settle). */
  warmupSeconds: number;
  seed: number;
  /** Tenants sharing a system prompt each; 0: no shared prompts. */
  tenants: number;
  /** Words of a tenant's system prompt. */
  systemWords: number;
  /** Words of each request's own part (its question, or its whole prompt without tenants). */
  ownWords: number;
  /** Per request, from its send. */
  timeoutMs: number;
}

/** Raw timings of the measured requests of one run, ms. */
export interface RoutingSample {
  /** Requests sent during the warm-up (not in the other fields). */
  warmup: number;
  sent: number;
  completed: number;
  failed: number;
  firstError?: string;
  ttftMs: number[];
  e2eMs: number[];
  /** From the first measured send to the last measured answer's end. */
  wallMs: number;
}

function words(random: () => number, count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(`w${Math.floor(random() * 5000)}`);
  return out.join(" ");
}

/** The request bodies of a load, in send order, and the delay of each send from the start (ms). */
export function plan(load: RoutingLoad): Array<{ atMs: number; body: string; measured: boolean }> {
  const random = seededRandom(load.seed);
  const systems = Array.from(
    { length: load.tenants },
    (_, t) => `You are the assistant of tenant ${t}. ${words(seededRandom(1000 + t), load.systemWords)}`,
  );
  const out: Array<{ atMs: number; body: string; measured: boolean }> = [];
  const warmupMs = load.warmupSeconds * 1000;
  let atMs = 0;
  for (let i = 0; atMs < warmupMs + load.seconds * 1000; i++) {
    const own = `Request ${i}: ${words(random, load.ownWords)}?`;
    const messages = load.tenants > 0
      ? [
        { role: "system", content: systems[Math.floor(random() * load.tenants)] },
        { role: "user", content: own },
      ]
      : [{ role: "user", content: own }];
    const body = JSON.stringify({ model: "mock-worker", stream: true, messages });
    out.push({ atMs, body, measured: atMs >= warmupMs });
    atMs += (-Math.log(1 - random()) / load.rate) * 1000; // exponential gaps: Poisson arrivals
  }
  return out;
}

/** Sends one request; records its timings in `sample` unless it is undefined (warm-up); returns when it ended. */
async function one(load: RoutingLoad, body: string, sample: RoutingSample | undefined): Promise<number> {
  const decoder = new TextDecoder();
  const startedAt = performance.now();
  const response = await fetch(load.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...load.headers },
    body,
    signal: AbortSignal.timeout(load.timeoutMs),
  });
  if (!response.ok || !response.body) {
    throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
  }
  let carry = "";
  let tokens = 0;
  for await (const chunk of response.body) {
    const counted = countTokens(carry, decoder.decode(chunk, { stream: true }));
    carry = counted.carry;
    if (tokens === 0 && counted.count > 0) sample?.ttftMs.push(performance.now() - startedAt);
    tokens += counted.count;
  }
  if (tokens === 0) throw new Error("stream ended without a token");
  const end = performance.now();
  sample?.e2eMs.push(end - startedAt);
  return end;
}

/** Sends the load open loop and collects its timings; failures are counted, not thrown. */
export async function runLoad(load: RoutingLoad): Promise<RoutingSample> {
  const requests = plan(load);
  const sample: RoutingSample = { warmup: 0, sent: 0, completed: 0, failed: 0, ttftMs: [], e2eMs: [], wallMs: 0 };
  const start = performance.now();
  let firstMeasured = NaN;
  let lastEnd = start;
  const running: Promise<void>[] = [];
  for (const request of requests) {
    const wait = start + request.atMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (!request.measured) {
      sample.warmup++;
      running.push(one(load, request.body, undefined).then(() => {}, () => {}));
      continue;
    }
    if (sample.sent++ === 0) firstMeasured = performance.now();
    running.push(
      one(load, request.body, sample).then(
        (end) => {
          sample.completed++;
          lastEnd = Math.max(lastEnd, end);
        },
        (error) => {
          sample.failed++;
          sample.firstError ??= String(error).slice(0, 200);
        },
      ),
    );
  }
  await Promise.all(running);
  sample.wallMs = lastEnd - firstMeasured;
  return sample;
}

if (import.meta.main) {
  const load = JSON.parse(await Deno.readTextFile(Deno.args[0])) as RoutingLoad;
  console.log(JSON.stringify(await runLoad(load)));
}
