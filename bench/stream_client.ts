/**
 * Opens N streamed chat completions, their starts spread evenly over `rampMs` (all of them are open together once
 * the ramp ends, since each stream outlasts it), and times them: time to first token and the gap before each later
 * token. Run as its own process (pinned by the bench); prints one JSON StreamSample on stdout.
 * Usage: deno run -A bench/stream_client.ts <request.json> <streams> <timeoutMs> [rampMs]
 */

import type { BenchRequest } from "./http_request.ts";

/** Raw timings of one batch of streams, in ms. */
export interface StreamSample {
  streams: number;
  completed: number;
  failed: number;
  firstError?: string;
  ttftMs: number[];
  gapsMs: number[];
  tokens: number;
}

const CONTENT = '"content":';

/** Counts token events (`"content":` fields) in SSE text, carrying a possibly split marker to the next chunk. */
export function countTokens(carry: string, text: string): { count: number; carry: string } {
  const joined = carry + text;
  let count = 0;
  for (let at = joined.indexOf(CONTENT); at >= 0; at = joined.indexOf(CONTENT, at + CONTENT.length)) count++;
  const lastFull = joined.lastIndexOf(CONTENT);
  const tailStart = Math.max(joined.length - (CONTENT.length - 1), lastFull >= 0 ? lastFull + CONTENT.length : 0);
  return { count, carry: joined.slice(tailStart) };
}

async function oneStream(request: BenchRequest, sample: StreamSample, signal: AbortSignal): Promise<void> {
  const decoder = new TextDecoder();
  const startedAt = performance.now();
  const response = await fetch(request.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...request.headers },
    body: request.body,
    signal,
  });
  if (!response.ok || !response.body) {
    throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
  }
  let previous = NaN;
  let carry = "";
  let tokens = 0;
  for await (const chunk of response.body) {
    const now = performance.now();
    const counted = countTokens(carry, decoder.decode(chunk, { stream: true }));
    carry = counted.carry;
    for (let i = 0; i < counted.count; i++) {
      if (tokens === 0) sample.ttftMs.push(now - startedAt);
      else sample.gapsMs.push(i === 0 ? now - previous : 0);
      tokens++;
    }
    if (counted.count > 0) previous = now;
  }
  if (tokens === 0) throw new Error("stream ended without a token");
  sample.tokens += tokens;
}

/** Runs `streams` streams at once and collects their timings; failures are counted, not thrown. */
export async function runStreams(
  request: BenchRequest,
  options: { streams: number; timeoutMs: number; rampMs: number },
): Promise<StreamSample> {
  const sample: StreamSample = { streams: options.streams, completed: 0, failed: 0, ttftMs: [], gapsMs: [], tokens: 0 };
  const signal = AbortSignal.timeout(options.timeoutMs);
  const spacing = options.rampMs / options.streams;
  const later = (i: number) => new Promise((resolve) => setTimeout(resolve, i * spacing));
  await Promise.all(
    Array.from({ length: options.streams }, (_, i) =>
      later(i).then(() => oneStream(request, sample, signal)).then(
        () => sample.completed++,
        (error) => {
          sample.failed++;
          sample.firstError ??= String(error).slice(0, 200);
        },
      )),
  );
  return sample;
}

if (import.meta.main) {
  const [requestPath, streams, timeoutMs, rampMs] = Deno.args;
  const request = JSON.parse(await Deno.readTextFile(requestPath)) as BenchRequest;
  const sample = await runStreams(request, {
    streams: Number(streams),
    timeoutMs: Number(timeoutMs),
    rampMs: Number(rampMs ?? 0),
  });
  console.log(JSON.stringify(sample));
}
