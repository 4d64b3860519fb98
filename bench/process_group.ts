/** Child processes of one bench run: started pinned to a core, logged to files, always stopped at the end. */

/** A started child process; `pid` is the program itself (taskset and sh exec into it). */
export interface Child {
  name: string;
  pid: number;
  logPath: string;
  status: Promise<Deno.CommandStatus>;
}

/** How to start one child. */
export interface SpawnOptions {
  /** CPU list for taskset ("0", "1", "0-1"). */
  cpus: string;
  env?: Record<string, string>;
  cwd?: string;
}

/** Waits until something accepts TCP connections on 127.0.0.1:port, or throws after `timeoutMs`. */
export async function waitForPort(port: number, options: { timeoutMs: number; child?: Child }): Promise<void> {
  const deadline = performance.now() + options.timeoutMs;
  let exited = false;
  options.child?.status.then(() => exited = true);
  while (performance.now() < deadline) {
    if (exited) break;
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const where = options.child
    ? ` (${options.child.name}, log ${options.child.logPath}: ${tail(options.child.logPath)})`
    : "";
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${options.timeoutMs} ms${where}`);
}

/** The last lines of a log file, for error messages. */
export function tail(path: string, lines = 8): string {
  try {
    return Deno.readTextFileSync(path).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Owns every child of a run: spawn pinned, stop one, stop all (SIGTERM, then SIGKILL). */
export class ProcessGroup {
  readonly #children = new Set<Child>();
  readonly logDir: string;

  constructor(logDir: string) {
    this.logDir = logDir;
  }

  /** Starts `command args...` under taskset, stdout and stderr appended to <logDir>/<name>.log. */
  spawn(name: string, command: string[], options: SpawnOptions): Child {
    const logPath = `${this.logDir}/${name}.log`;
    const script = 'log="$1"; shift; exec "$@" >>"$log" 2>&1';
    const child = new Deno.Command("sh", {
      args: ["-c", script, "sh", logPath, "taskset", "-c", options.cpus, ...command],
      env: options.env,
      cwd: options.cwd,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const started: Child = { name, pid: child.pid, logPath, status: child.status };
    this.#children.add(started);
    child.status.finally(() => this.#children.delete(started));
    return started;
  }

  /** Stops one child: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(child: Child, graceMs = 3000): Promise<void> {
    if (!this.#children.has(child)) return;
    try {
      Deno.kill(child.pid, "SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        Deno.kill(child.pid, "SIGKILL");
      } catch { /* already gone */ }
    }, graceMs);
    await child.status;
    clearTimeout(timer);
  }

  /** Stops every child still running. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#children].map((child) => this.stop(child)));
  }
}
