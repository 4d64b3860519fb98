/** Entry of the mock worker: read config, serve, drain on SIGTERM. */

import { ConfigError, parseConfig, type WorkerConfig } from "./config.ts";
import { createMetrics } from "./metrics.ts";
import { log } from "./log.ts";
import { createHandler } from "./server.ts";

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
  onListen: ({ hostname, port }) => log("info", "listening", { address: `http://${hostname}:${port}`, config }),
}, createHandler(config, createMetrics(config.model)));

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log("info", "draining", { signal, grace_ms: config.shutdownGraceMs });
  const timer = setTimeout(() => {
    log("info", "grace period over, exiting with requests in flight");
    Deno.exit(0);
  }, config.shutdownGraceMs);
  await server.shutdown();
  clearTimeout(timer);
  log("info", "stopped");
  Deno.exit(0);
}

for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, () => void shutdown(signal));
