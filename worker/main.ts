/** Entry of the mock worker: read config, serve, drain on SIGTERM. */

import { ConfigError, parseConfig, type WorkerConfig } from "./config.ts";
import { createMetrics } from "./metrics.ts";
import { createHandler } from "./server.ts";

function log(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), level: "info", service: "worker", ...fields }));
}

let config: WorkerConfig;
try {
  config = parseConfig(Deno.env.toObject());
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  Deno.exit(2);
}

const server = Deno.serve({
  port: config.port,
  hostname: config.host,
  onListen: ({ hostname, port }) => log({ msg: "listening", address: `http://${hostname}:${port}`, config }),
}, createHandler(config, createMetrics(config.model)));

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log({ msg: "draining", signal, graceMs: config.shutdownGraceMs });
  const timer = setTimeout(() => {
    log({ msg: "grace period over, exiting with requests in flight" });
    Deno.exit(0);
  }, config.shutdownGraceMs);
  await server.shutdown();
  clearTimeout(timer);
  log({ msg: "stopped" });
  Deno.exit(0);
}

for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, () => void shutdown(signal));
