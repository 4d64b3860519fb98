/** The mock worker's log: one JSON object per line on stdout (errors on stderr). */

/** Writes one JSON log line with a timestamp, the level and the service name. */
export function log(level: "info" | "error", fields: Record<string, unknown>): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, service: "worker", ...fields });
  if (level === "error") console.error(line);
  else console.log(line);
}
