/** The mock worker's log: one JSON object per line on stdout (errors on stderr), fields as in the gateway's log. */

/** Writes one JSON log line `{time, level, msg, service, ...fields}`. */
export function log(level: "info" | "error", msg: string, fields?: Record<string, unknown>): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, service: "worker", ...fields });
  if (level === "error") console.error(line);
  else console.log(line);
}
