/** Gateway entry point: read config, start the API and metrics listeners, drain on SIGTERM/SIGINT. */
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { flushLogs, log, setLogLevel } from "./log.ts";
import { RedisRateLimiter } from "./rate_limit_redis.ts";
import { createGateway, type Gateway } from "./server.ts";

/** How long startup waits for a first Redis connection before serving anyway. */
const REDIS_STARTUP_WAIT_MS = 5_000;

function fail(message: string): never {
  console.error(`nexus gateway: ${message}`);
  Deno.exit(1);
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`);
  throw error;
}
setLogLevel(config.logLevel);
// The OpenTelemetry SDK is loaded only when traces are on: off, no module is loaded and no subscriber runs.
const tracing = config.tracing === undefined ? undefined : (await import("./tracing.ts")).startTracing(config.tracing);
let gateway: Gateway;
try {
  gateway = createGateway(config, { subscribers: tracing === undefined ? [] : [tracing.subscriber] });
} catch (error) {
  if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`); // GATEWAY_DISCOVERY outside a pod
  throw error;
}
gateway.start(); // load scraping and Kubernetes discovery, off the request path
if (gateway.limiter instanceof RedisRateLimiter) {
  // Listen once Redis is connected, so a new replica does not admit its first requests unlimited (fail open).
  const connected = await gateway.limiter.waitReady(REDIS_STARTUP_WAIT_MS);
  if (!connected) log("warn", "redis not reachable at startup; serving anyway", { fail_mode: config.rateLimitFail });
}

// Prometheus scrapes its own port, which no Service exposure routes to: /metrics (per-key counters) stays private.
Deno.serve({
  hostname: config.host,
  port: config.metricsPort,
  onListen: ({ hostname, port }) => log("info", "metrics listening", { address: `${hostname}:${port}` }),
}, gateway.handleMetrics);

const server = Deno.serve({
  hostname: config.host,
  port: config.port,
  onListen: ({ hostname, port }) => {
    log("info", "gateway listening", {
      address: `${hostname}:${port}`,
      upstreams: Object.fromEntries(
        [...config.upstreams.values()].map((u) => [u.name, u.endpoints.map((e) => e.baseUrl).join(",")]),
      ),
      picker: config.routing.picker,
      discovery: config.routing.discovery.size > 0 ? [...config.routing.discovery.keys()] : undefined,
      default_upstream: config.defaultUpstream,
      policies: [...config.policies.keys()],
      rate_limiter: config.redisUrl ? "redis" : "memory",
      auth: config.authEnabled ? `${config.apiKeys.length} key(s)` : "off",
      upstream_client: config.upstreamClient,
      tracing: config.tracing === undefined
        ? "off"
        : { endpoint: config.tracing.endpoint, protocol: config.tracing.protocol, sampler: config.tracing.sampler },
    });
  },
}, gateway.handle);

let stopping = false;
/**
 * SIGTERM: keep serving (ready 503, `Connection: close` on every answer) for GATEWAY_DRAIN_DELAY_SECONDS, while
 * Kubernetes takes the pod out of its Services and load balancers; then stop accepting, let in-flight requests finish
 * for up to GATEWAY_DRAIN_GRACE_SECONDS, and exit 0. SIGINT (Ctrl-C at a terminal, no load balancer) skips the delay.
 */
async function drain(signal: "SIGTERM" | "SIGINT"): Promise<void> {
  if (stopping) return;
  stopping = true;
  gateway.startDraining();
  const delaySeconds = signal === "SIGTERM" ? config.drainDelaySeconds : 0;
  if (delaySeconds > 0) {
    log("info", "draining: still serving while this replica is taken out of load balancing", {
      signal,
      delay_seconds: delaySeconds,
    });
    await new Promise((resolve) => setTimeout(resolve, delaySeconds * 1000));
  }
  log("info", "draining: no new connections, waiting for in-flight requests", {
    signal,
    grace_seconds: config.drainGraceSeconds,
  });
  const grace = new Promise<"timeout">((resolve) =>
    setTimeout(() => resolve("timeout"), config.drainGraceSeconds * 1000)
  );
  const result = await Promise.race([server.shutdown().then(() => "drained" as const), grace]);
  log(result === "drained" ? "info" : "warn", result === "drained" ? "drained, exiting" : "grace period over, exiting");
  await gateway.close();
  // The spans of the last requests are still queued: export them before exiting (bounded by the export timeout).
  await tracing?.shutdown().catch((error) => log("warn", "trace flush failed", { error: String(error) }));
  flushLogs();
  Deno.exit(0);
}

Deno.addSignalListener("SIGTERM", () => void drain("SIGTERM"));
Deno.addSignalListener("SIGINT", () => void drain("SIGINT"));
