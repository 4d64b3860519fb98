/**
 * Profiles the gateway's hot path: Nexus (Redis limiter, auth, routing, as in the bench) under wrk -c64 in front of
 * a canned upstream, run with `deno run --cpu-prof`; prints where the samples fall and writes the summary to
 * bench/results/profile.txt. Usage: deno run -A bench/profile_gateway.ts [--seconds=8] [--memory]
 */

import { chatBody } from "./http_request.ts";
import { summarise } from "./cpu_profile.ts";
import { ProcessGroup } from "./process_group.ts";
import { cpuSeconds } from "./proc_stats.ts";
import { startCannedUpstream, startRedis } from "./services.ts";
import { BENCH_KEY, startNexus } from "./targets.ts";
import { runWrk } from "./wrk.ts";
import { tool } from "../tests/support/paths.ts";

const repoRoot = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const seconds = Number(Deno.args.find((a) => a.startsWith("--seconds="))?.slice(10) ?? 8);
const redisLimiter = !Deno.args.includes("--memory");

const workDir = await Deno.makeTempDir({ prefix: "nexus-profile-" });
const group = new ProcessGroup(workDir);
const wrk = tool("wrk");
const nginx = tool("nginx");
try {
  const body = chatBody({ model: "mock-worker", stream: false, maxTokens: 16 });
  const answer = JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "mock-worker",
    choices: [{ index: 0, message: { role: "assistant", content: "a short canned answer" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 },
  });
  const canned = await startCannedUpstream(group, { name: "canned", nginx, cpus: "0", workDir, body: answer });
  const redis = await startRedis(group, { name: "redis", redisServer: tool("redis-server"), cpus: "1" });
  const { child, port } = await startNexus({
    group,
    tools: { nginx, litellm: "" },
    gatewayRoot: repoRoot,
    cpus: "1",
    loadCpus: "0",
    workDir,
    upstreamUrl: canned.url,
    redisUrl: redis.url,
    suite: "profile",
    name: "nexus-profiled",
    redis: redisLimiter,
    extraArgs: ["--cpu-prof", `--cpu-prof-dir=${workDir}/profile`],
    env: { GATEWAY_DRAIN_GRACE_SECONDS: "2" },
  });
  const request = { url: `http://127.0.0.1:${port}/v1/chat/completions`, headers: { "X-API-Key": BENCH_KEY }, body };
  const wrkOptions = { wrk, cpus: "0", connections: 64, scriptPath: `${workDir}/post.lua` };
  await runWrk(request, { ...wrkOptions, seconds: 2 });
  const cpuBefore = cpuSeconds(child.pid);
  const result = await runWrk(request, { ...wrkOptions, seconds });
  const cpuUsed = cpuSeconds(child.pid) - cpuBefore;
  await group.stop(child, 10_000);
  const [file] = [...Deno.readDirSync(`${workDir}/profile`)].filter((e) => e.name.endsWith(".cpuprofile"));
  const { functions, files, idleShare } = summarise(
    JSON.parse(await Deno.readTextFile(`${workDir}/profile/${file.name}`)),
  );
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `Nexus (${redisLimiter ? "Redis" : "in-memory"} limiter) under wrk -c64 for ${seconds} s, deno --cpu-prof:`,
    `${result.requestsPerSecond.toFixed(0)} requests/s, ${
      (cpuUsed / result.requests * 1e6).toFixed(0)
    } µs of gateway CPU per request (profiler on), idle ${pct(idleShare)} of samples`,
    "",
    "self   total  function (top 25 by self time)",
    ...functions.slice(0, 25).map((r) => `${pct(r.selfShare)} ${pct(r.totalShare)}  ${r.name}`),
    "",
    "self   total  file (top 20 by self time)",
    ...files.slice(0, 20).map((r) => `${pct(r.selfShare)} ${pct(r.totalShare)}  ${r.name}`),
    "",
    "self   total  gateway function (top 20 by total time)",
    ...functions.filter((r) => r.name.includes("gateway/")).sort((a, b) => b.totalShare - a.totalShare).slice(0, 20)
      .map((r) => `${pct(r.selfShare)} ${pct(r.totalShare)}  ${r.name}`),
  ];
  console.log(lines.join("\n"));
  await Deno.writeTextFile(
    `${repoRoot}/bench/results/profile${redisLimiter ? "" : "-memory"}.txt`,
    lines.join("\n") + "\n",
  );
} finally {
  await group.stopAll();
}
