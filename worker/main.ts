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

const handle = createHandler(config, createMetrics(config.model));
let draining = false;
const server = Deno.serve({
  port: config.port,
  hostname: config.host,
  onListen: ({ hostname, port }) => log("info", "listening", { address: `http://${hostname}:${port}`, config }),
}, (request) => draining ? closing(handle(request)) : handle(request));

/** While draining, kept-alive clients (a gateway's pool) are told to reconnect: through the Service, to another pod. */
async function closing(answer: Response | Promise<Response>): Promise<Response> {
  const response = await answer;
  response.headers.set("connection", "close");
  return response;
}

let stopping = false;
/**
 * SIGTERM: keep serving for WORKER_DRAIN_DELAY_MS (answers say `Connection: close`) while Kubernetes takes the pod
 * out of its Service, then stop accepting and let in-flight answers finish for up to WORKER_SHUTDOWN_GRACE_MS.
 * SIGINT (Ctrl-C) skips the delay.
 */
async function shutdown(signal: "SIGTERM" | "SIGINT"): Promise<void> {
  if (stopping) return;
  stopping = true;
  draining = true;
  const delayMs = signal === "SIGTERM" ? config.drainDelayMs : 0;
  log("info", "draining", { signal, delay_ms: delayMs, grace_ms: config.shutdownGraceMs });
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
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
