/** JSON log lines on stdout, batched so a request never waits for a write. */
import type { LogLevel } from "./config.ts";

const encoder = new TextEncoder();
const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
let threshold = rank.info;
let pending: string[] = [];
let scheduled = false;

/** Sets the lowest level that is written. */
export function setLogLevel(level: LogLevel): void {
  threshold = rank[level];
}

/** Writes every pending line now (called on shutdown). */
export function flushLogs(): void {
  scheduled = false;
  if (pending.length === 0) return;
  const text = pending.join("");
  pending = [];
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/** Logs one JSON line `{time, level, msg, service, ...fields}`; request lines carry `request_id` in fields. */
export function log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (rank[level] < threshold) return;
  const line = { time: new Date().toISOString(), level, msg, service: "gateway", ...fields };
  pending.push(JSON.stringify(line) + "\n");
  if (pending.length >= 256) flushLogs();
  else if (!scheduled) {
    scheduled = true;
    setTimeout(flushLogs, 0);
  }
}

/** True when `level` would be written. */
export function logEnabled(level: LogLevel): boolean {
  return rank[level] >= threshold;
}
