/**
 * Measures the upstream HTTP clients of bench/client_variants.ts side by side: each proxy alone on core 1 in front
 * of a canned nginx on core 0, wrk -c64 from core 0, three interleaved rounds, medians of requests/s and of CPU
 * per request. Writes bench/results/upstream-clients.md. Usage: deno run -A bench/client_comparison.ts
 */

import { freePort, ProcessGroup, waitForPort } from "./process_group.ts";
import { cpuSeconds } from "./proc_stats.ts";
import { startCannedUpstream } from "./services.ts";
import { median } from "./stats.ts";
import { chatBody } from "./http_request.ts";
import { runWrk } from "./wrk.ts";
import { tool } from "../tests/support/paths.ts";

const CLIENTS = ["none", "fetch", "fetch-tuned", "node-http", "raw-pool"] as const;
const VARIANTS = new URL("./client_variants.ts", import.meta.url).pathname;
const repoRoot = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const rounds = 3;
const seconds = 4;

const workDir = await Deno.makeTempDir({ prefix: "nexus-clients-" });
const group = new ProcessGroup(workDir);
const wrk = tool("wrk");
try {
  const canned = await startCannedUpstream(group, {
    name: "canned",
    nginx: tool("nginx"),
    cpus: "0",
    workDir,
    body: '{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",' +
      '"content":"a short canned answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":4}}',
  });
  const proxies = [];
  for (const client of CLIENTS) {
    const port = freePort();
    const child = group.spawn(`proxy-${client}`, [Deno.execPath(), "run", "-A", VARIANTS], {
      cpus: "1",
      env: { CLIENT: client, PORT: String(port), UPSTREAM: canned.url },
    });
    await waitForPort(port, { timeoutMs: 30_000, child });
    proxies.push({ client, child, url: `http://127.0.0.1:${port}/v1/chat/completions` });
  }
  const body = chatBody({ model: "mock-worker", stream: false, maxTokens: 16 });
  const options = { wrk, cpus: "0", connections: 64, scriptPath: `${workDir}/post.lua` };
  for (const proxy of proxies) await runWrk({ url: proxy.url, headers: {}, body }, { ...options, seconds: 1 });
  const rows = new Map<string, { rps: number[]; cpuUs: number[] }>(CLIENTS.map((c) => [c, { rps: [], cpuUs: [] }]));
  for (let round = 1; round <= rounds; round++) {
    for (const proxy of proxies) {
      console.error(`round ${round}/${rounds}: ${proxy.client}`);
      const before = cpuSeconds(proxy.child.pid);
      const result = await runWrk({ url: proxy.url, headers: {}, body }, { ...options, seconds });
      const used = cpuSeconds(proxy.child.pid) - before;
      rows.get(proxy.client)!.rps.push(result.requestsPerSecond);
      rows.get(proxy.client)!.cpuUs.push(result.requests ? (used / result.requests) * 1e6 : NaN);
    }
  }
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  const lines = [
    "| upstream client | requests/s (median) | proxy CPU µs per request (median) |",
    "| --- | ---: | ---: |",
    ...CLIENTS.map((c) => {
      const r = rows.get(c)!;
      const name = c === "none" ? "none (Deno.serve answers itself: the server's floor)" : c;
      return `| ${name} | ${median(r.rps).toFixed(0)} | ${median(r.cpuUs).toFixed(0)} |`;
    }),
    "",
    `${rounds} interleaved rounds of wrk -c64 for ${seconds} s; load average ${load} at the end (shared machine).`,
  ];
  console.log(lines.join("\n"));
  await Deno.writeTextFile(`${repoRoot}/bench/results/upstream-clients.md`, lines.join("\n") + "\n");
} finally {
  await group.stopAll();
}
