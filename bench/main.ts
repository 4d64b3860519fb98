/**
 * `deno task bench`: installs the bench tools, measures direct, Nexus (memory and Redis limiter), nginx and LiteLLM
 * side by side, then Nexus's endpoint pickers (routing suite), and writes BENCHMARKS.md, bench/results/latest.json,
 * bench/results/latency.svg and bench/results/routing.svg.
 * Flags: --quick (smoke run, written under bench/results/raw/quick/), --rounds=N, --targets=a,b, --suites=a,b (the
 * other suites' saved results are kept), --worker-root=DIR / --gateway-root=DIR (benchmark another checkout),
 * --report-only (re-render saved results).
 */

import { runCeilingSuite } from "./ceiling_suite.ts";
import { describeMachine, describeVersions, loadAverage } from "./machine.ts";
import { parsePlan, SUITE_NAMES, type SuiteName } from "./plan.ts";
import { ProcessGroup } from "./process_group.ts";
import { runLatencySuite } from "./latency_suite.ts";
import { runRateLimitSuite } from "./rate_limit_suite.ts";
import { latencyChart, renderReport } from "./report.ts";
import type { BenchResults } from "./results.ts";
import { keepUnmeasured } from "./results_merge.ts";
import { routingChart } from "./routing_report.ts";
import { offeredRate, ROUTING_WORKLOADS, runRoutingSuite } from "./routing_suite.ts";
import { startRedis } from "./services.ts";
import { runStreamSuite } from "./stream_suite.ts";
import type { SuiteContext, Tools } from "./suite_context.ts";
import { benchCommands } from "./commands.ts";
import { tool } from "../tests/support/paths.ts";

const repoRoot = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const SUITE_COUNT = SUITE_NAMES.length;

/**
 * Raises this process's priority (children inherit it) so that other work on a shared machine disturbs the
 * measurements less; every process of the bench gets the same priority, so comparisons stay fair.
 */
async function raisePriority(say: (message: string) => void): Promise<string> {
  const output = await new Deno.Command("renice", { args: ["-n", "-10", "-p", String(Deno.pid)], stderr: "piped" })
    .output().catch(() => undefined);
  const done = output?.success === true;
  say(done ? "running at nice -10" : "could not raise priority (not root?): running at normal priority");
  return done ? "-10" : "0";
}

async function installTools(): Promise<void> {
  const status = await new Deno.Command("bash", { args: [`${repoRoot}/scripts/install/bench_tools.sh`] }).spawn()
    .status;
  if (!status.success) throw new Error("scripts/install/bench_tools.sh failed");
}

/** Suites that need the bench tools (wrk, vegeta, nginx, LiteLLM, Redis); the routing suite runs Deno alone. */
const TOOL_SUITES: readonly SuiteName[] = ["latency", "ceiling", "streaming", "rate-limit"];
/** Suites that use the shared redis-server. */
const REDIS_SUITES: readonly SuiteName[] = ["latency", "ceiling", "streaming"];

/** No bench tools: what a run of the routing suite alone gets (their versions then read "unavailable"). */
const NO_TOOLS: Tools = { wrk: "", vegeta: "", nginx: "", litellm: "", redisServer: "", redisCli: "" };

function findTools(): Tools {
  return {
    wrk: tool("wrk"),
    vegeta: tool("vegeta"),
    nginx: tool("nginx"),
    litellm: tool("litellm"),
    redisServer: tool("redis-server"),
    redisCli: tool("redis-cli"),
  };
}

async function measure(ctx: SuiteContext): Promise<BenchResults> {
  const { plan } = ctx;
  const startedAt = new Date().toISOString();
  const results: BenchResults = {
    startedAt,
    finishedAt: startedAt,
    plan: (({ workerRoot: _w, gatewayRoot: _g, outRoot: _o, reportOnly: _r, ...rest }) => rest)(plan),
    machine: await describeMachine(),
    versions: await describeVersions(ctx.tools, { gatewayRoot: plan.gatewayRoot }),
    commands: benchCommands(plan),
    loadAverage: { start: await loadAverage(), end: "" },
    latency: [],
    ceiling: [],
    streaming: [],
    rateLimit: null,
    routing: null,
    measuredAt: Object.fromEntries(plan.suites.map((suite) => [suite, startedAt])),
    notes: ctx.notes,
  };
  if (plan.suites.some((suite) => REDIS_SUITES.includes(suite))) {
    const redis = await startRedis(ctx.group, {
      name: "redis",
      redisServer: ctx.tools.redisServer,
      cpus: plan.targetCpus,
    });
    if (plan.suites.includes("latency")) results.latency = await runLatencySuite(ctx, redis);
    if (plan.suites.includes("ceiling")) results.ceiling = await runCeilingSuite(ctx, redis);
    if (plan.suites.includes("streaming")) results.streaming = await runStreamSuite(ctx, redis);
    await ctx.group.stop(redis.child);
  }
  if (plan.suites.includes("rate-limit")) results.rateLimit = await runRateLimitSuite(ctx);
  if (plan.suites.includes("routing")) {
    const routingStart = { at: new Date().toISOString(), load: await loadAverage() };
    const runs = await runRoutingSuite(ctx);
    results.routing = {
      startedAt: routingStart.at,
      finishedAt: new Date().toISOString(),
      loadAverage: { start: routingStart.load, end: await loadAverage() },
      workloads: ROUTING_WORKLOADS.map((w) => ({ ...w, rate: offeredRate(w, plan.routingLoad) })),
      runs,
    };
  }
  results.finishedAt = new Date().toISOString();
  results.loadAverage.end = await loadAverage();
  return results;
}

async function main(): Promise<void> {
  const plan = parsePlan(Deno.args, repoRoot);
  const outDir = plan.quick ? `${plan.outRoot}/bench/results/raw/quick` : plan.outRoot;
  const resultsDir = plan.quick ? outDir : `${plan.outRoot}/bench/results`;
  await Deno.mkdir(resultsDir, { recursive: true });
  const resultsPath = `${resultsDir}/latest.json`;
  let results: BenchResults;
  if (plan.reportOnly) {
    results = JSON.parse(await Deno.readTextFile(resultsPath));
  } else {
    const needsTools = plan.suites.some((suite) => TOOL_SUITES.includes(suite));
    if (needsTools) await installTools();
    const workDir = await Deno.makeTempDir({ prefix: "nexus-bench-" });
    const group = new ProcessGroup(workDir);
    const stopAll = () => group.stopAll().finally(() => Deno.exit(130));
    Deno.addSignalListener("SIGINT", stopAll);
    Deno.addSignalListener("SIGTERM", stopAll);
    const say = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
    say(`logs and scratch files in ${workDir}`);
    const niceness = await raisePriority(say);
    try {
      results = await measure({ plan, group, tools: needsTools ? findTools() : NO_TOOLS, workDir, notes: [], say });
      results.machine.niceness = niceness;
      const saved = await Deno.readTextFile(resultsPath).then(JSON.parse).catch(() => undefined) as
        | BenchResults
        | undefined;
      if (saved && plan.suites.length < SUITE_COUNT) results = keepUnmeasured(results, saved, plan.suites);
    } finally {
      await group.stopAll();
    }
    await Deno.writeTextFile(resultsPath, JSON.stringify(results, null, 1) + "\n");
  }
  results.routing ??= null;
  const chartName = "latency.svg";
  await Deno.writeTextFile(`${resultsDir}/${chartName}`, latencyChart(results));
  await Deno.writeTextFile(`${resultsDir}/routing.svg`, routingChart(results.routing));
  const findings = await Deno.readTextFile(`${repoRoot}/bench/FINDINGS.md`).catch(() => "");
  const chartPath = plan.quick ? chartName : `bench/results/${chartName}`;
  const routingChartPath = plan.quick ? "routing.svg" : "bench/results/routing.svg";
  await Deno.writeTextFile(
    `${outDir}/BENCHMARKS.md`,
    renderReport(results, { chartPath, routingChartPath, findings }),
  );
  console.error(`wrote ${outDir}/BENCHMARKS.md, ${resultsPath}, ${resultsDir}/${chartName}, ${resultsDir}/routing.svg`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
