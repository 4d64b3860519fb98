/** Open-loop load with vegeta: requests start at a fixed rate whether or not earlier ones have answered. */

import type { BenchRequest } from "./http_request.ts";
import { percentiles } from "./stats.ts";

/** What one open-loop run measured; latencies (ms) are of successful (2xx) answers only. */
export interface OpenLoopResult {
  rate: number;
  sent: number;
  ok: number;
  /** Share of requests answered 2xx (1 = all). */
  successRatio: number;
  /** 2xx answers per second over the attack. */
  throughput: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The most frequent error text, when some requests failed. */
  topError?: string;
}

/** vegeta's HTTP target format: method and URL, headers, then `@file` for the body. */
export function vegetaTargets(request: BenchRequest, bodyPath: string): string {
  const headers = Object.entries({ "Content-Type": "application/json", ...request.headers })
    .map(([name, value]) => `${name}: ${value}`);
  return [`POST ${request.url}`, ...headers, `@${bodyPath}`, ""].join("\n");
}

/** Summarises `vegeta encode -to json` output (one JSON result per line; latency in ns). */
export function parseVegetaResults(text: string, rate: number): OpenLoopResult {
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  let sent = 0;
  let first = Infinity;
  let last = -Infinity;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { code: number; latency: number; error: string; timestamp: string };
    sent++;
    const start = Date.parse(r.timestamp);
    first = Math.min(first, start);
    last = Math.max(last, start + r.latency / 1e6);
    if (r.code >= 200 && r.code < 300) {
      latencies.push(r.latency / 1e6);
    } else {
      const error = r.error || `HTTP ${r.code}`;
      errors.set(error, (errors.get(error) ?? 0) + 1);
    }
  }
  const p = percentiles(latencies);
  const span = (last - first) / 1000;
  const topError = [...errors.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  return {
    rate,
    sent,
    ok: latencies.length,
    successRatio: sent ? latencies.length / sent : 0,
    throughput: span > 0 ? latencies.length / span : 0,
    p50Ms: p.p50,
    p90Ms: p.p90,
    p99Ms: p.p99,
    maxMs: p.max,
    ...(topError === undefined ? {} : { topError: topError.slice(0, 160) }),
  };
}

/** Runs one vegeta attack pinned to `cpus` at `rate` requests/s for `seconds`, then summarises it. */
export async function runVegeta(
  request: BenchRequest,
  options: { vegeta: string; cpus: string; rate: number; seconds: number; workDir: string },
): Promise<OpenLoopResult> {
  const { workDir } = options;
  await Deno.writeTextFile(`${workDir}/vegeta-body.json`, request.body);
  await Deno.writeTextFile(`${workDir}/vegeta-targets.txt`, vegetaTargets(request, `${workDir}/vegeta-body.json`));
  const timeoutSeconds = 5;
  const attack = await new Deno.Command("taskset", {
    args: [
      "-c",
      options.cpus,
      options.vegeta,
      "attack",
      `-targets=${workDir}/vegeta-targets.txt`,
      `-rate=${options.rate}/s`,
      `-duration=${options.seconds}s`,
      `-timeout=${timeoutSeconds}s`,
      "-max-workers=4000",
      `-output=${workDir}/vegeta.bin`,
    ],
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout((options.seconds + timeoutSeconds + 30) * 1000),
  }).output();
  if (!attack.success) throw new Error(`vegeta attack failed: ${new TextDecoder().decode(attack.stderr)}`);
  const encoded = await new Deno.Command(options.vegeta, {
    args: ["encode", "-to", "json", `${workDir}/vegeta.bin`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!encoded.success) throw new Error(`vegeta encode failed: ${new TextDecoder().decode(encoded.stderr)}`);
  return parseVegetaResults(new TextDecoder().decode(encoded.stdout), options.rate);
}
