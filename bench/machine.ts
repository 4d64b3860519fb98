/** The machine and the versions of everything measured, for the report. */

import type { Tools } from "./suite_context.ts";

async function run(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  try {
    const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped", cwd: options.cwd })
      .output();
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    return text.trim();
  } catch (error) {
    return `unavailable (${error})`;
  }
}

function firstMatch(text: string, pattern: RegExp): string {
  return text.match(pattern)?.[1]?.trim() ?? text.split("\n")[0];
}

/** CPU model, core count, memory, kernel, and the load average right now. */
export async function describeMachine(): Promise<Record<string, string>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKb = Number(meminfo.match(/^MemTotal:\s+(\d+)/m)?.[1] ?? 0);
  return {
    cpu: firstMatch(cpuinfo, /^model name\s*:\s*(.+)$/m),
    cores: String(navigator.hardwareConcurrency),
    memory: `${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    kernel: await run("uname", ["-sr"]),
  };
}

/** The one-line load average (1, 5, 15 minutes). */
export async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ").slice(0, 3).join(" ");
}

/** Versions of Deno, the load generators, the proxies, Redis, and the commit measured. */
export async function describeVersions(
  tools: Tools,
  options: { gatewayRoot: string },
): Promise<Record<string, string>> {
  const litellmReal = await Deno.realPath(tools.litellm).catch(() => tools.litellm);
  const litellmPython = litellmReal.replace(/litellm$/, "python");
  return {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    "nexus commit": await run("git", ["log", "-1", "--format=%h %s"], { cwd: options.gatewayRoot }),
    wrk: firstMatch(await run(tools.wrk, ["-v"]), /^wrk (\S+)/m),
    vegeta: firstMatch(await run(tools.vegeta, ["-version"]), /^Version: (\S+)/m),
    nginx: firstMatch(await run(tools.nginx, ["-v"]), /nginx\/(\S+)/),
    litellm: firstMatch(
      await run(litellmPython, [
        "-c",
        "import importlib.metadata as m; print(m.version('litellm'))",
      ]),
      /^(\d[^\s]*)$/m,
    ),
    python: firstMatch(await run(litellmPython, ["--version"]), /^Python (\S+)/m),
    "redis-server": firstMatch(await run(tools.redisServer, ["--version"]), /v=(\S+)/),
  };
}
