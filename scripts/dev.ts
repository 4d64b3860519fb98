/**
 * `deno task start`: a mock worker on :8001 and the gateway on :8000 in front of it, for local use.
 * In-memory rate limiting, API key `dev-key` (the only place that key exists). Any variable already set in the
 * environment wins over these defaults. Ctrl-C or SIGTERM stops both; if one child dies the other is stopped too.
 */

const root = new URL("../", import.meta.url).pathname;

// No drain delays: there is no load balancer to wait for on a laptop.
const workerDefaults: Record<string, string> = {
  WORKER_PORT: "8001",
  WORKER_MODEL: "mock-worker",
  WORKER_DRAIN_DELAY_MS: "0",
};
const gatewayDefaults: Record<string, string> = {
  GATEWAY_PORT: "8000",
  GATEWAY_API_KEYS: "dev-key",
  GATEWAY_UPSTREAMS: `mock=http://127.0.0.1:${Deno.env.get("WORKER_PORT") || workerDefaults.WORKER_PORT}`,
  GATEWAY_DEFAULT_UPSTREAM: "mock",
  GATEWAY_DRAIN_DELAY_SECONDS: "0",
};

/** Environment for a child: the defaults, overridden by whatever the user already set. */
function envWith(defaults: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...defaults };
  for (const name of Object.keys(defaults)) {
    const value = Deno.env.get(name);
    if (value) env[name] = value;
  }
  return env;
}

/** Copies a child's output to ours line by line, each line prefixed with the child's name. */
async function prefixLines(stream: ReadableStream<Uint8Array>, options: { name: string; to: typeof Deno.stdout }) {
  const encoder = new TextEncoder();
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + text).split("\n");
    rest = lines.pop()!;
    if (lines.length) await options.to.write(encoder.encode(lines.map((l) => `[${options.name}] ${l}\n`).join("")));
  }
  if (rest) await options.to.write(encoder.encode(`[${options.name}] ${rest}\n`));
}

interface Child {
  name: string;
  process: Deno.ChildProcess;
  output: Promise<unknown>;
}

function start(name: string, options: { script: string; env: Record<string, string> }): Child {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", options.script],
    cwd: root,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([
    prefixLines(process.stdout, { name, to: Deno.stdout }),
    prefixLines(process.stderr, { name, to: Deno.stderr }),
  ]);
  return { name, process, output };
}

/** Waits until `url` answers 2xx: "up"; or the child exits ("exited"), we stop, or a minute passes ("timeout"). */
async function answers(url: string, child: Child): Promise<"up" | "exited" | "timeout"> {
  let exited = false;
  child.process.status.then(() => exited = true);
  for (const deadline = Date.now() + 60_000; !exited && !stopping && Date.now() < deadline;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.ok) return "up";
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return exited ? "exited" : "timeout";
}

const children: Child[] = [];
let stopping = false;
function stopAll(signal: Deno.Signal): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) {
    try {
      child.process.kill(signal);
    } catch { /* already gone */ }
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => stopAll("SIGTERM"));
}

// The worker first, so the gateway's first request never finds it still starting (a 502).
const worker = start("worker", { script: "worker/main.ts", env: envWith(workerDefaults) });
children.push(worker);
const workerPort = Deno.env.get("WORKER_PORT") || workerDefaults.WORKER_PORT;
const workerState = await answers(`http://127.0.0.1:${workerPort}/health`, worker);
if (workerState === "up") {
  const gateway = start("gateway", { script: "gateway/main.ts", env: envWith(gatewayDefaults) });
  children.push(gateway);
  const port = Deno.env.get("GATEWAY_PORT") || gatewayDefaults.GATEWAY_PORT;
  if (await answers(`http://127.0.0.1:${port}/health`, gateway) === "up") {
    console.log(`[dev] gateway on http://127.0.0.1:${port} (key: dev-key, model: mock-worker); Ctrl-C stops both`);
  }
} else if (workerState === "timeout" && !stopping) {
  console.error(`[dev] the worker did not answer on :${workerPort}/health in a minute; stopping`);
  stopAll("SIGTERM");
  await worker.process.status;
  Deno.exit(1);
}

const first = await Promise.race(children.map(async (child) => ({ child, status: await child.process.status })));
if (!stopping) console.error(`[dev] ${first.child.name} exited with code ${first.status.code}; stopping the rest`);
const userStopped = stopping;
stopAll("SIGTERM");
await Promise.all(children.map(async (child) => {
  await child.process.status;
  await child.output;
}));
Deno.exit(userStopped ? 0 : first.status.code || 1);
