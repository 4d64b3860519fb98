/** The ways to reach the worker that the bench compares, each started in front of one upstream. */

import { freePort } from "../tests/support/process.ts";
import { type Child, type ProcessGroup, waitForPort } from "./process_group.ts";
import type { Floor } from "./floor_targets.ts";
import { startCannedUpstream, startNginx } from "./services.ts";

/** Names of the compared targets, in table order. */
export const TARGET_NAMES = [
  "direct",
  "serve-alone",
  "pool-proxy",
  "fetch-proxy",
  "nexus-memory",
  "nexus-traced",
  "nexus-redis",
  "nginx",
  "litellm",
] as const;
/** One compared target. */
export type TargetName = typeof TARGET_NAMES[number];

/** The floors that only the ceiling suite runs: one answers without an upstream, one reads answers whole. */
export const CEILING_ONLY: readonly TargetName[] = ["serve-alone", "pool-proxy"];

/** The targets of `names` that a suite other than the ceiling runs. */
export function beyondCeiling(names: readonly TargetName[]): TargetName[] {
  return names.filter((name) => !CEILING_ONLY.includes(name));
}

/** What each target is, for the tables. */
export const TARGET_LABELS: Record<TargetName, string> = {
  direct: "direct to the worker",
  "serve-alone": "Deno.serve answering alone (floor)",
  "pool-proxy": "bare pooled proxy over Deno.connect (floor)",
  "fetch-proxy": "bare Deno fetch proxy (floor)",
  "nexus-memory": "Nexus, in-memory limiter",
  "nexus-traced": "Nexus, in-memory limiter, traces on",
  "nexus-redis": "Nexus, Redis limiter",
  nginx: "nginx reverse proxy",
  litellm: "LiteLLM proxy",
};

const FLOOR_TARGETS = new URL("./floor_targets.ts", import.meta.url).pathname;
/** The floor targets and the FLOOR of bench/floor_targets.ts each runs. */
export const FLOOR_OF = {
  "serve-alone": "serve",
  "pool-proxy": "pool",
  "fetch-proxy": "fetch",
} as const satisfies Partial<
  Record<TargetName, Floor>
>;

/** The API key every target is configured with. */
export const BENCH_KEY = "bench-key";

/** A running target: where to send requests, with which auth header, and its process (none for direct). */
export interface Target {
  name: TargetName;
  /** Base URL; requests go to <base>/v1/chat/completions. */
  baseUrl: string;
  headers: Record<string, string>;
  child?: Child;
}

/** Paths of the programs the targets need. */
export interface TargetTools {
  nginx: string;
  litellm: string;
}

/** Where and how to start the targets of one suite. */
export interface TargetOptions {
  group: ProcessGroup;
  tools: TargetTools;
  /** Checkout whose gateway/main.ts is benchmarked. */
  gatewayRoot: string;
  /** Core(s) every proxy is pinned to. */
  cpus: string;
  /** Core(s) of the helpers that are not measured (the OTLP sink of nexus-traced). */
  loadCpus: string;
  workDir: string;
  /** The worker (or canned upstream) every target forwards to. */
  upstreamUrl: string;
  redisUrl: string;
  /** Suffix for process and log names (one set of targets per suite). */
  suite: string;
}

/**
 * Nexus as the issue asks to measure it: auth on, a rate limit (high enough never to refuse), a routing policy
 * (canary between two upstream names on the same worker), and the limiter in memory or in Redis.
 */
export function nexusEnv(options: { port: number; upstreamUrl: string; redisUrl?: string }): Record<string, string> {
  const env: Record<string, string> = {
    GATEWAY_HOST: "127.0.0.1",
    GATEWAY_PORT: String(options.port),
    GATEWAY_UPSTREAMS: `primary=${options.upstreamUrl};canary=${options.upstreamUrl}`,
    GATEWAY_DEFAULT_UPSTREAM: "primary",
    GATEWAY_ROUTE_POLICIES: JSON.stringify({
      "mock-worker": { strategy: "canary", primary: "primary", canary: "canary", percent: 10 },
    }),
    GATEWAY_API_KEYS: BENCH_KEY,
    GATEWAY_RATE_LIMIT_RPM: "1000000000",
    // Replicas side by side: each its own metrics port; stopped at once, nothing to drain for.
    GATEWAY_METRICS_PORT: "0",
    GATEWAY_DRAIN_DELAY_SECONDS: "0",
    // The stream suite holds 1,000 streams open to one worker: the default cap (256) would measure the queue.
    GATEWAY_UPSTREAM_MAX_CONNECTIONS: "100000",
  };
  if (options.redisUrl) env.REDIS_URL = options.redisUrl;
  return env;
}

/** Starts one Nexus gateway process (deno run -A gateway/main.ts) and waits until it listens. */
export async function startNexus(
  options: TargetOptions & { name: string; redis: boolean; extraArgs?: string[]; env?: Record<string, string> },
): Promise<{ child: Child; port: number }> {
  const port = freePort();
  const env = {
    ...nexusEnv({ port, upstreamUrl: options.upstreamUrl, redisUrl: options.redis ? options.redisUrl : undefined }),
    ...options.env,
  };
  const child = options.group.spawn(options.name, [
    Deno.execPath(),
    "run",
    "-A",
    ...(options.extraArgs ?? []),
    "gateway/main.ts",
  ], { cpus: options.cpus, cwd: options.gatewayRoot, env });
  await waitForPort(port, { timeoutMs: 30_000, child });
  return { child, port };
}

/**
 * Traces on, every request sampled (the default sampler), exported as OTLP/protobuf (the default protocol) to
 * `otlpUrl`, in batches on the default 5 s schedule: the cost of tracing at its most.
 */
export function tracingEnv(otlpUrl: string): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl };
}

/** nginx as a plain reverse proxy: keep-alive pool to the upstream, no buffering (so SSE streams through). */
function nginxProxyServer(port: number, upstreamUrl: string): string {
  const upstream = new URL(upstreamUrl);
  return `  upstream worker {
    server ${upstream.host};
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://worker;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }`;
}

/** LiteLLM proxy config: one OpenAI-compatible model passed through to the worker, a master key, no extras. */
export function litellmConfig(upstreamUrl: string): string {
  return `model_list:
  - model_name: mock-worker
    litellm_params:
      model: openai/mock-worker
      api_base: ${upstreamUrl}/v1
      api_key: unused
litellm_settings:
  drop_params: true
  telemetry: false
general_settings:
  master_key: sk-${BENCH_KEY}
`;
}

async function startLitellm(options: TargetOptions): Promise<{ child: Child; port: number }> {
  const port = freePort();
  const configPath = `${options.workDir}/litellm-${options.suite}.yaml`;
  await Deno.writeTextFile(configPath, litellmConfig(options.upstreamUrl));
  const child = options.group.spawn(`litellm-${options.suite}`, [
    options.tools.litellm,
    "--config",
    configPath,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--num_workers",
    "1",
  ], {
    cpus: options.cpus,
    env: { LITELLM_LOCAL_MODEL_COST_MAP: "True", LITELLM_LOG: "ERROR", LITELLM_TELEMETRY: "False" },
  });
  await waitForPort(port, { timeoutMs: 120_000, child });
  return { child, port };
}

/** Starts every target of `names` in front of options.upstreamUrl. */
export async function startTargets(names: readonly TargetName[], options: TargetOptions): Promise<Target[]> {
  const targets: Target[] = [];
  const apiKey = { "X-API-Key": BENCH_KEY };
  for (const name of names) {
    switch (name) {
      case "direct":
        targets.push({ name, baseUrl: options.upstreamUrl, headers: {} });
        break;
      case "nexus-memory":
      case "nexus-traced":
      case "nexus-redis": {
        // nexus-traced exports its spans to an nginx on the load core that answers 200 to every export.
        const sink = name === "nexus-traced"
          ? await startCannedUpstream(options.group, {
            name: `otlp-sink-${options.suite}`,
            nginx: options.tools.nginx,
            cpus: options.loadCpus,
            workDir: options.workDir,
            body: "",
          })
          : undefined;
        const { child, port } = await startNexus({
          ...options,
          name: `${name}-${options.suite}`,
          redis: name === "nexus-redis",
          env: sink === undefined ? undefined : tracingEnv(sink.url),
        });
        targets.push({ name, baseUrl: `http://127.0.0.1:${port}`, headers: apiKey, child });
        break;
      }
      case "serve-alone":
      case "pool-proxy":
      case "fetch-proxy": {
        const port = freePort();
        const child = options.group.spawn(`${name}-${options.suite}`, [Deno.execPath(), "run", "-A", FLOOR_TARGETS], {
          cpus: options.cpus,
          env: { FLOOR: FLOOR_OF[name], PORT: String(port), UPSTREAM: options.upstreamUrl },
        });
        await waitForPort(port, { timeoutMs: 30_000, child });
        targets.push({ name, baseUrl: `http://127.0.0.1:${port}`, headers: apiKey, child });
        break;
      }
      case "nginx": {
        const port = freePort();
        const service = await startNginx(options.group, {
          name: `nginx-${options.suite}`,
          nginx: options.tools.nginx,
          cpus: options.cpus,
          workDir: options.workDir,
          port,
          server: nginxProxyServer(port, options.upstreamUrl),
        });
        targets.push({ name, baseUrl: service.url, headers: {}, child: service.child });
        break;
      }
      case "litellm": {
        const { child, port } = await startLitellm(options);
        targets.push({
          name,
          baseUrl: `http://127.0.0.1:${port}`,
          headers: { Authorization: `Bearer sk-${BENCH_KEY}` },
          child,
        });
        break;
      }
    }
  }
  return targets;
}
