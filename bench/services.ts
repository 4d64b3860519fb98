/** Starts the bench's backends: the mock worker, a canned-answer nginx upstream, and redis-server. */

import { freePort } from "../tests/support/process.ts";
import { type Child, type ProcessGroup, waitForPort } from "./process_group.ts";

/** A started HTTP server with its base URL. */
export interface Service {
  child: Child;
  port: number;
  /** http://127.0.0.1:<port> (no trailing slash). */
  url: string;
}

/** The mock worker's timing for one suite. */
export interface WorkerTiming {
  ttftMs: number;
  tokenDelayMs: number;
  maxTokens: number;
}

/**
 * Starts the mock worker (worker/main.ts under `root`) with a fixed time to first token and token pace; `env` adds or
 * overrides WORKER_* settings (the routing suite's slots, KV cache and prefill time).
 */
export async function startWorker(
  group: ProcessGroup,
  options: { name: string; root: string; cpus: string; timing: WorkerTiming; env?: Record<string, string> },
): Promise<Service> {
  const port = freePort();
  const child = group.spawn(options.name, [Deno.execPath(), "run", "-A", "worker/main.ts"], {
    cpus: options.cpus,
    cwd: options.root,
    env: {
      WORKER_HOST: "127.0.0.1",
      WORKER_PORT: String(port),
      WORKER_MODEL: "mock-worker",
      WORKER_TTFT_MS: String(options.timing.ttftMs),
      WORKER_TOKEN_DELAY_MS: String(options.timing.tokenDelayMs),
      WORKER_MAX_TOKENS: String(options.timing.maxTokens),
      WORKER_MAX_NUM_SEQS: "100000",
      WORKER_DRAIN_DELAY_MS: "0",
      ...options.env,
    },
  });
  await waitForPort(port, { timeoutMs: 30_000, child });
  return { child, port, url: `http://127.0.0.1:${port}` };
}

/** Writes a minimal nginx.conf: one process, no daemon, temp paths under `dir`, the given server block. */
export function nginxConfig(dir: string, server: string): string {
  return `worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${server}
}
`;
}

/** Starts nginx with `server` as its http{} content, in its own directory under `workDir`. */
export async function startNginx(
  group: ProcessGroup,
  options: { name: string; nginx: string; cpus: string; workDir: string; port: number; server: string },
): Promise<Service> {
  const dir = `${options.workDir}/${options.name}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/nginx.conf`, nginxConfig(dir, options.server));
  const child = group.spawn(options.name, [
    options.nginx,
    "-p",
    dir,
    "-e",
    `${dir}/error.log`,
    "-c",
    `${dir}/nginx.conf`,
  ], {
    cpus: options.cpus,
  });
  await waitForPort(options.port, { timeoutMs: 10_000, child });
  return { child, port: options.port, url: `http://127.0.0.1:${options.port}` };
}

/**
 * An nginx that answers every request at once with `body`: the upstream for the throughput ceiling, so the proxy
 * under test (not the mock worker, a Deno process of its own) is what runs out of CPU.
 */
export function startCannedUpstream(
  group: ProcessGroup,
  options: { name: string; nginx: string; cpus: string; workDir: string; body: string },
): Promise<Service> {
  const port = freePort();
  const escaped = options.body.replaceAll("\\", "\\\\").replaceAll("'", "\\'");
  const server = `  server {
    listen 127.0.0.1:${port} backlog=4096;
    keepalive_requests 1000000;
    location / { default_type application/json; return 200 '${escaped}'; }
  }`;
  return startNginx(group, {
    name: options.name,
    nginx: options.nginx,
    cpus: options.cpus,
    workDir: options.workDir,
    port,
    server,
  });
}

/** Starts a throwaway redis-server (no persistence) on a free port. */
export async function startRedis(
  group: ProcessGroup,
  options: { name: string; redisServer: string; cpus: string },
): Promise<Service> {
  const port = freePort();
  const child = group.spawn(options.name, [
    options.redisServer,
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--save",
    "",
    "--appendonly",
    "no",
  ], { cpus: options.cpus });
  await waitForPort(port, { timeoutMs: 10_000, child });
  return { child, port, url: `redis://127.0.0.1:${port}` };
}
