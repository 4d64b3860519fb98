/** Start and stop the real processes that cross-process tests need: Deno entries (gateway, worker) and redis-server. */

import { repoRoot, tool } from "./paths.ts";

/** How long a process gets to become ready before the test fails (a bound, not a timing assertion). */
const READY_TIMEOUT_MS = 60_000;

/**
 * Ports tried by freePort: below Linux's ephemeral range (32768-60999), which outgoing connections use. A port the OS
 * picked from that range could be taken by any client socket (a load test, another helper) before our child binds it.
 */
const PORT_RANGE = { from: 20_000, to: 32_000 };

/**
 * Ports freePort handed out in this process. It never hands one out twice: a port given for a child that has not
 * bound it yet is still free, and two children (a gateway's API and metrics ports) would both get it.
 */
const handedOut = new Set<number>();

/** A free TCP port on 127.0.0.1, outside the ephemeral range; it is released just before the caller uses it. */
export function freePort(): number {
  for (let i = 0; i < 100; i++) {
    const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      handedOut.add(port);
      return port;
    } catch { /* in use: try another */ }
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Options for {@linkcode spawn}. */
export interface SpawnOptions {
  /** Extra environment for the child, on top of this process's environment. */
  env?: Record<string, string>;
  /** Arguments after the program. */
  args?: string[];
  /** Working directory (default: the repository root). */
  cwd?: string;
  /** Name used in error messages (default: the program's file name). */
  name?: string;
}

/** A running child process whose stdout and stderr are captured line by line. */
export class Child implements AsyncDisposable {
  /** Every stdout line so far. */
  readonly stdout: string[] = [];
  /** Every stderr line so far. */
  readonly stderr: string[] = [];
  /** Resolves with the exit status once the child has exited and its output has been read. */
  readonly exited: Promise<Deno.CommandStatus>;
  #process: Deno.ChildProcess;
  #done = false;
  #listeners = new Set<() => void>();

  constructor(readonly name: string, process: Deno.ChildProcess) {
    this.#process = process;
    const pumps = [this.#pump(process.stdout, this.stdout), this.#pump(process.stderr, this.stderr)];
    this.exited = Promise.all([process.status, ...pumps]).then(([status]) => {
      this.#done = true;
      this.#notify();
      return status;
    });
  }

  /** The child's process id. */
  get pid(): number {
    return this.#process.pid;
  }

  /** True once the child has exited. */
  get done(): boolean {
    return this.#done;
  }

  /** Stdout and stderr together (each in order), for error messages and assertions. */
  output(): string {
    return [...this.stdout, ...this.stderr].join("\n");
  }

  /** Sends a signal; ignored when the child has already exited. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.#process.kill(signal);
    } catch { /* already gone */ }
  }

  /** Waits for a stdout or stderr line that matches; throws if the child exits or the timeout passes first. */
  async waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs = READY_TIMEOUT_MS): Promise<string> {
    const test = typeof match === "function" ? match : (line: string) => match.test(line);
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.stdout.find(test) ?? this.stderr.find(test);
      if (found !== undefined) return found;
      if (this.#done) throw new Error(`${this.name} exited before printing ${match}:\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not print ${match} in time:\n${this.output()}`);
      await this.#nextOutput(deadline - Date.now());
    }
  }

  /** Stops the child: SIGTERM, then SIGKILL after graceMs; resolves with its exit status. */
  async stop(graceMs = 10_000): Promise<Deno.CommandStatus> {
    if (!this.#done) this.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return await this.exited;
  }

  /** Stops the child when a `await using` block ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #pump(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
    let rest = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + text).split("\n");
      rest = parts.pop() ?? "";
      if (parts.length > 0) {
        lines.push(...parts);
        this.#notify();
      }
    }
    if (rest) lines.push(rest);
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
    this.#listeners.clear();
  }

  #nextOutput(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      const listener = () => done();
      this.#listeners.add(listener);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

/** Starts a program with captured output. */
export function spawn(program: string, options: SpawnOptions = {}): Child {
  const process = new Deno.Command(program, {
    args: options.args ?? [],
    cwd: options.cwd ?? repoRoot,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new Child(options.name ?? program.split("/").pop() ?? program, process);
}

/** Starts `deno run -A <entry>` (entry relative to the repository root) with extra environment. */
export function spawnDeno(entry: string, options: SpawnOptions = {}): Child {
  return spawn(Deno.execPath(), { name: entry, ...options, args: ["run", "-A", entry, ...(options.args ?? [])] });
}

/** Polls a URL until it answers 2xx; throws if the child exits or the timeout passes first. */
export async function waitForUrl(url: string, options: { child?: Child; timeoutMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? READY_TIMEOUT_MS);
  let last = "";
  while (true) {
    if (options.child?.done) {
      throw new Error(`${options.child.name} exited before ${url} answered:\n${options.child.output()}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.ok) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) {
      throw new Error(`${url} did not answer in time (${last})${options.child ? `:\n${options.child.output()}` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A started Deno service: its child process, port and base URL. */
export interface Service extends AsyncDisposable {
  /** The child process. */
  child: Child;
  /** The port it listens on. */
  port: number;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Stops it (SIGTERM, then SIGKILL). */
  stop(): Promise<Deno.CommandStatus>;
}

/** Options for {@linkcode startService}. */
export interface ServiceOptions {
  /** Environment for the service (a function: called again for each attempt); `portVariable` is set to the port. */
  env?: Record<string, string> | (() => Record<string, string>);
  /** The env variable that carries the port, e.g. "WORKER_PORT". */
  portVariable: string;
  /** Path polled until it answers (default "/health"). */
  readyPath?: string;
  /** A port to use instead of a free one. */
  port?: number;
}

/**
 * Starts a Deno entry on a free port and waits until its ready path answers; stops it if it never does. When a free
 * port is taken before the child binds it (the machine is shared), it tries another.
 */
export async function startService(entry: string, options: ServiceOptions): Promise<Service> {
  for (let attempt = 1;; attempt++) {
    const port = options.port ?? freePort();
    const env = typeof options.env === "function" ? options.env() : options.env;
    const child = spawnDeno(entry, { env: { ...env, [options.portVariable]: String(port) } });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForUrl(`${url}${options.readyPath ?? "/health"}`, { child });
    } catch (error) {
      await child.stop();
      if (options.port === undefined && attempt < 5 && child.output().includes("AddrInUse")) continue;
      throw error;
    }
    return service(child, { port, url });
  }
}

function service(child: Child, address: { port: number; url: string }): Service {
  const stop = () => child.stop();
  return { child, ...address, stop, [Symbol.asyncDispose]: async () => void await stop() };
}

/**
 * Starts the mock worker (worker/main.ts) on a free port with extra WORKER_* environment. It stops without the drain
 * delay (WORKER_DRAIN_DELAY_MS=0) unless told otherwise.
 */
export function startWorker(env: Record<string, string> = {}): Promise<Service> {
  return startService("worker/main.ts", {
    env: { WORKER_HOST: "127.0.0.1", WORKER_DRAIN_DELAY_MS: "0", ...env },
    portVariable: "WORKER_PORT",
  });
}

/** A started gateway: its API service plus the metrics listener. */
export interface GatewayService extends Service {
  /** `http://127.0.0.1:<GATEWAY_METRICS_PORT>`, where /metrics is served. */
  metricsUrl: string;
}

/**
 * Starts the gateway (gateway/main.ts) on free API and metrics ports with the given GATEWAY_* environment; ready when
 * /health is 2xx. It stops without the drain delay (GATEWAY_DRAIN_DELAY_SECONDS=0) unless told otherwise.
 */
export async function startGateway(env: Record<string, string>): Promise<GatewayService> {
  let metricsPort = "";
  const service = await startService("gateway/main.ts", {
    env: () => {
      metricsPort = env.GATEWAY_METRICS_PORT ?? String(freePort());
      return { GATEWAY_HOST: "127.0.0.1", GATEWAY_DRAIN_DELAY_SECONDS: "0", ...env, GATEWAY_METRICS_PORT: metricsPort };
    },
    portVariable: "GATEWAY_PORT",
  });
  return { ...service, metricsUrl: `http://127.0.0.1:${metricsPort}` };
}

/** Gateway environment with one worker as upstream `mock` (also the default upstream) and the given API keys. */
export function mockGatewayEnv(
  workerUrl: string,
  keys: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return { GATEWAY_UPSTREAMS: `mock=${workerUrl}`, GATEWAY_DEFAULT_UPSTREAM: "mock", GATEWAY_API_KEYS: keys, ...extra };
}

/** Runs a Deno entry to completion (for entries expected to exit, e.g. on bad config); returns code and output. */
export async function runDeno(
  entry: string,
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawnDeno(entry, options);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? READY_TIMEOUT_MS);
  const status = await child.exited;
  clearTimeout(timer);
  return { code: status.code, stdout: child.stdout.join("\n"), stderr: child.stderr.join("\n") };
}

/** A running redis-server on 127.0.0.1 with nothing persisted. */
export interface RedisServer extends AsyncDisposable {
  /** The child process. */
  child: Child;
  /** The port it listens on. */
  port: number;
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  /** Stops it (SIGTERM, then SIGKILL); safe to call twice. */
  stop(): Promise<Deno.CommandStatus>;
  /** Kills it at once (SIGKILL), as a crash would. */
  kill(): Promise<Deno.CommandStatus>;
}

/** Starts a real redis-server (found with tool("redis-server")) on a free or given port and waits for PONG. */
export async function startRedis(options: { port?: number } = {}): Promise<RedisServer> {
  for (let attempt = 1;; attempt++) {
    const port = options.port ?? freePort();
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
    const cwd = Deno.makeTempDirSync({ prefix: "nexus-redis-" });
    const child = spawn(tool("redis-server"), { args, cwd });
    child.exited.finally(() => Deno.removeSync(cwd, { recursive: true })).catch(() => {});
    try {
      await waitForPong(port, child);
    } catch (error) {
      await child.stop();
      // The free port was taken before redis-server bound it (a shared machine): try another.
      if (options.port === undefined && attempt < 5 && child.output().includes("Address already in use")) continue;
      throw error;
    }
    return redisServer(child, port);
  }
}

function redisServer(child: Child, port: number): RedisServer {
  const stop = () => child.stop();
  const kill = () => {
    child.kill("SIGKILL");
    return child.exited;
  };
  return {
    child,
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    kill,
    [Symbol.asyncDispose]: async () => void await stop(),
  };
}

async function waitForPong(port: number, child: Child): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (true) {
    if (child.done) throw new Error(`redis-server exited before answering:\n${child.output()}`);
    try {
      if (await ping(port)) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      throw new Error(`redis-server on ${port} did not answer PING in time:\n${child.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function ping(port: number): Promise<boolean> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(64);
    const read = await conn.read(buffer);
    return read !== null && new TextDecoder().decode(buffer.subarray(0, read)).startsWith("+PONG");
  } finally {
    conn.close();
  }
}
