/** Closed-loop load with wrk: a fixed number of connections as fast as the target answers. */

import type { BenchRequest } from "./http_request.ts";

const MARKER = "NEXUS_WRK_RESULT ";

/** What one wrk run measured. */
export interface WrkResult {
  requests: number;
  durationSeconds: number;
  requestsPerSecond: number;
  /** Latency percentiles in ms (wrk's own histogram). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Responses with a status outside 2xx/3xx. */
  non2xx: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
}

/** A Lua string literal that holds any text (long brackets with enough '=' to never close early). */
function luaString(text: string): string {
  let level = "";
  while (text.includes(`]${level}]`)) level += "=";
  return `[${level}[${text}]${level}]`;
}

/** The wrk script: request method, body and headers, and a done() hook that prints one JSON line. */
export function wrkScript(request: BenchRequest): string {
  const headers = Object.entries({ "Content-Type": "application/json", ...request.headers })
    .map(([name, value]) => `wrk.headers[ ${luaString(name)} ] = ${luaString(value)}`).join("\n");
  return `wrk.method = "POST"
wrk.body = ${luaString(request.body)}
${headers}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARKER}{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"non2xx":%d,"socket_errors":%d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
`;
}

/** Finds the done() line in wrk's output and turns it into a WrkResult; throws when wrk printed none. */
export function parseWrkOutput(output: string): WrkResult {
  const line = output.split("\n").find((l) => l.startsWith(MARKER));
  if (!line) throw new Error(`wrk printed no result line:\n${output.slice(-2000)}`);
  const raw = JSON.parse(line.slice(MARKER.length));
  const durationSeconds = raw.duration_us / 1e6;
  return {
    requests: raw.requests,
    durationSeconds,
    requestsPerSecond: durationSeconds > 0 ? (raw.requests - raw.non2xx) / durationSeconds : 0,
    p50Ms: raw.p50_us / 1000,
    p99Ms: raw.p99_us / 1000,
    maxMs: raw.max_us / 1000,
    non2xx: raw.non2xx,
    socketErrors: raw.socket_errors,
  };
}

/** Runs wrk pinned to `cpus` against one request; `connections` are held open for `seconds`. */
export async function runWrk(
  request: BenchRequest,
  options: { wrk: string; cpus: string; connections: number; seconds: number; scriptPath: string },
): Promise<WrkResult> {
  await Deno.writeTextFile(options.scriptPath, wrkScript(request));
  const output = await new Deno.Command("taskset", {
    args: [
      "-c",
      options.cpus,
      options.wrk,
      "-t1",
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      "--timeout",
      "10s",
      "-s",
      options.scriptPath,
      request.url,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout((options.seconds + 30) * 1000),
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return parseWrkOutput(text);
}
