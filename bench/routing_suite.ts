/**
 * Routing: one upstream of 4 mock workers with a prefix cache (WORKER_KV_BLOCKS, WORKER_PREFILL_MS_PER_TOKEN) and a
 * few slots each (WORKER_MAX_NUM_SEQS), loaded open loop (bench/routing_client.ts) through Nexus with each picker, and
 * through Nexus with the upstream as one Service URL (bench/tcp_balancer.ts balances connections, as kube-proxy does).
 * Each target gets fresh workers (cold caches) and the same seeded requests. TTFT and throughput come from the client,
 * requests per worker and the prefix hit rate from the workers' own counters.
 */

import { metricValue } from "../tests/support/prometheus.ts";
import { freePort } from "../tests/support/process.ts";
import { waitForPort } from "./process_group.ts";
import { UsageSampler } from "./proc_stats.ts";
import type { RoutingRun } from "./results.ts";
import type { RoutingLoad, RoutingSample } from "./routing_client.ts";
import { type Service, startWorker } from "./services.ts";
import { percentiles } from "./stats.ts";
import type { SuiteContext } from "./suite_context.ts";
import { BENCH_KEY, startNexus } from "./targets.ts";

const CLIENT = new URL("./routing_client.ts", import.meta.url).pathname;
const BALANCER = new URL("./tcp_balancer.ts", import.meta.url).pathname;

/** Workers behind the upstream. */
export const ROUTING_WORKERS = 4;

/** What the suite compares: Nexus with each picker, and Nexus in front of one connection-balanced Service URL. */
export const ROUTING_TARGETS = ["service", "round_robin", "least_request", "load", "prefix"] as const;
/** One routing target. */
export type RoutingTarget = typeof ROUTING_TARGETS[number];
/** How the report names each target. */
export const ROUTING_TARGET_LABELS: Record<string, string> = {
  service: "one Service URL",
  round_robin: "round_robin",
  least_request: "least_request",
  load: "load",
  prefix: "prefix",
};

/** A mock worker's settings in the routing suite. */
export interface RoutingWorker {
  ttftMs: number;
  prefillMsPerToken: number;
  tokenDelayMs: number;
  maxTokens: number;
  maxNumSeqs: number;
  kvBlocks: number;
}

/** One workload: what the requests look like and what the workers are. */
export interface RoutingWorkload {
  name: "multi-tenant" | "no-prefix" | "slow-worker";
  about: string;
  tenants: number;
  systemWords: number;
  ownWords: number;
  worker: RoutingWorker;
  /** The first worker's token delay, when it is made slower than the others. */
  slowTokenDelayMs?: number;
  /** The targets it runs, each `rounds` times (targets interleaved; the report takes medians). */
  targets: readonly RoutingTarget[];
  rounds: number;
}

const WORKER: RoutingWorker = {
  ttftMs: 20,
  prefillMsPerToken: 0.2,
  tokenDelayMs: 20,
  maxTokens: 16,
  maxNumSeqs: 4,
  kvBlocks: 800,
};

/** The workloads, in report order. */
export const ROUTING_WORKLOADS: readonly RoutingWorkload[] = [
  {
    name: "multi-tenant",
    about: "16 tenants, each with its own 2,000-word system prompt (125 KV blocks); each request adds a 20-word " +
      "question. A worker's cache holds 800 blocks: the tenants fit in the four caches together, not in one.",
    tenants: 16,
    systemWords: 2_000,
    ownWords: 20,
    worker: WORKER,
    targets: ROUTING_TARGETS,
    rounds: 1,
  },
  {
    name: "no-prefix",
    about: "Every prompt is its own from the first word (300 words): nothing to share, nothing to cache. The " +
      "pickers differ less here than one run's noise on a shared machine, so each runs 3 times (medians).",
    tenants: 0,
    systemWords: 0,
    ownWords: 300,
    worker: WORKER,
    targets: ["round_robin", "least_request", "load", "prefix"],
    rounds: 3,
  },
  {
    name: "slow-worker",
    about: "Short prompts of their own (50 words); one of the four workers generates 4× slower " +
      "(WORKER_TOKEN_DELAY_MS 80 instead of 20).",
    tenants: 0,
    systemWords: 0,
    ownWords: 50,
    worker: WORKER,
    slowTokenDelayMs: 80,
    targets: ROUTING_TARGETS,
    rounds: 1,
  },
];

/** Seconds one request holds a worker slot: time to first token with `uncachedTokens` to prefill, then decoding. */
export function serviceSeconds(worker: RoutingWorker, options: { uncachedTokens: number; tokenDelayMs?: number }) {
  const decode = (worker.maxTokens - 1) * (options.tokenDelayMs ?? worker.tokenDelayMs);
  return (worker.ttftMs + worker.prefillMsPerToken * options.uncachedTokens + decode) / 1000;
}

/** Prompt tokens of a tenant's system prompt as the worker counts them (its `system: ` line, the tenant's name). */
export function systemTokens(workload: RoutingWorkload): number {
  return workload.tenants > 0 ? workload.systemWords + 7 : 0;
}

/**
 * The prefix-cache hit rate a router that ignores prefixes can expect: the share of all tenants' system prompts that
 * one worker's cache holds (each prompt then sits on every worker, and a request finds its own there that often).
 */
export function blindHitRate(workload: RoutingWorkload): number {
  if (workload.tenants === 0) return 0;
  const promptBlocks = Math.ceil(systemTokens(workload) / 16);
  return Math.min(1, workload.worker.kvBlocks / promptBlocks / workload.tenants);
}

/**
 * The offered rate: `share` of the requests per second the workers complete at full use under today's routing, which
 * ignores prefixes (a request prefills its own words, the block vLLM always recomputes, and its tenant's system prompt
 * unless it is cached, see blindHitRate). A prefix-aware router needs less worker time per request than that.
 */
export function offeredRate(workload: RoutingWorkload, share: number): number {
  const uncachedTokens = workload.ownWords + 4 + 16 + (1 - blindHitRate(workload)) * systemTokens(workload);
  let capacity = 0;
  for (let i = 0; i < ROUTING_WORKERS; i++) {
    const tokenDelayMs = i === 0 ? workload.slowTokenDelayMs : undefined;
    capacity += workload.worker.maxNumSeqs / serviceSeconds(workload.worker, { uncachedTokens, tokenDelayMs });
  }
  return Math.round(share * capacity * 10) / 10;
}

/** The environment of worker `index` of a workload. */
export function workerEnv(workload: RoutingWorkload, index: number): Record<string, string> {
  const w = workload.worker;
  const slow = index === 0 && workload.slowTokenDelayMs !== undefined;
  return {
    WORKER_MAX_NUM_SEQS: String(w.maxNumSeqs),
    WORKER_KV_BLOCKS: String(w.kvBlocks),
    WORKER_PREFILL_MS_PER_TOKEN: String(w.prefillMsPerToken),
    WORKER_TOKEN_DELAY_MS: String(slow ? workload.slowTokenDelayMs : w.tokenDelayMs),
  };
}

/** The gateway's environment for a target (GATEWAY_UPSTREAMS lists the workers, or the one Service URL). */
export function routingGatewayEnv(target: RoutingTarget, upstreamUrls: string[]): Record<string, string> {
  return {
    GATEWAY_UPSTREAMS: `mock=${upstreamUrls.join(",")}`,
    GATEWAY_DEFAULT_UPSTREAM: "mock",
    GATEWAY_ROUTE_POLICIES: "",
    GATEWAY_PICKER: target === "service" ? "least_request" : target, // one endpoint: the picker does not matter
  };
}

async function workerCounters(workers: Service[]): Promise<Array<{ done: number; hits: number; queries: number }>> {
  return await Promise.all(workers.map(async (worker) => {
    const text = await (await fetch(`${worker.url}/metrics`)).text();
    return {
      done: metricValue(text, "vllm:request_success_total"),
      hits: metricValue(text, "vllm:prefix_cache_hits_total"),
      queries: metricValue(text, "vllm:prefix_cache_queries_total"),
    };
  }));
}

/** Runs the load client pinned to the load core and reads its JSON sample. */
async function runClient(ctx: SuiteContext, load: RoutingLoad): Promise<RoutingSample> {
  const specPath = `${ctx.workDir}/routing-load.json`;
  await Deno.writeTextFile(specPath, JSON.stringify(load));
  const output = await new Deno.Command("taskset", {
    args: ["-c", routingLoadCpus(ctx.plan), Deno.execPath(), "run", "-A", CLIENT, specPath],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout((load.warmupSeconds + load.seconds) * 1000 + load.timeoutMs + 30_000),
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success || !text) {
    throw new Error(`routing client failed: ${new TextDecoder().decode(output.stderr).slice(-500)}`);
  }
  return JSON.parse(text.split("\n").at(-1)!);
}

/** One target under one workload, on fresh workers. */
export async function runRoutingTarget(
  ctx: SuiteContext,
  options: { workload: RoutingWorkload; target: RoutingTarget; rate: number; round: number },
): Promise<RoutingRun> {
  const { workload, target, rate } = options;
  const cpus = routingLoadCpus(ctx.plan);
  const { plan, group } = ctx;
  const w = workload.worker;
  const workers = await Promise.all(Array.from({ length: ROUTING_WORKERS }, (_, i) =>
    startWorker(group, {
      name: `routing-${workload.name}-${target}-worker-${i}`,
      root: plan.workerRoot,
      cpus,
      timing: { ttftMs: w.ttftMs, tokenDelayMs: w.tokenDelayMs, maxTokens: w.maxTokens },
      env: workerEnv(workload, i),
    })));
  const children = workers.map((worker) => worker.child);
  try {
    let upstreams = workers.map((worker) => worker.url);
    if (target === "service") {
      const port = freePort();
      const balancer = group.spawn(`routing-${workload.name}-balancer`, [
        Deno.execPath(),
        "run",
        "-A",
        BALANCER,
        String(port),
        ...workers.map((worker) => `127.0.0.1:${worker.port}`),
      ], { cpus });
      children.push(balancer);
      await waitForPort(port, { timeoutMs: 30_000, child: balancer });
      upstreams = [`http://127.0.0.1:${port}`];
    }
    const gateway = await startNexus({
      group,
      tools: ctx.tools,
      gatewayRoot: plan.gatewayRoot,
      cpus: plan.targetCpus,
      loadCpus: cpus,
      workDir: ctx.workDir,
      upstreamUrl: upstreams[0],
      redisUrl: "",
      suite: "routing",
      name: `routing-${workload.name}-${target}-nexus`,
      redis: false,
      env: routingGatewayEnv(target, upstreams),
    });
    children.push(gateway.child);
    const before = await workerCounters(workers);
    const sampler = new UsageSampler(gateway.child.pid, { intervalMs: 100 });
    const sample = await runClient(ctx, {
      url: `http://127.0.0.1:${gateway.port}/v1/chat/completions`,
      headers: { "x-api-key": BENCH_KEY },
      rate,
      seconds: plan.routingSeconds,
      warmupSeconds: plan.routingWarmupSeconds,
      seed: 42,
      tenants: workload.tenants,
      systemWords: workload.systemWords,
      ownWords: workload.ownWords,
      timeoutMs: 120_000,
    });
    const usage = sampler.stop();
    const after = await workerCounters(workers);
    const hits = after.reduce((sum, c, i) => sum + c.hits - before[i].hits, 0);
    const queries = after.reduce((sum, c, i) => sum + c.queries - before[i].queries, 0);
    return {
      workload: workload.name,
      target,
      round: options.round,
      rate,
      sent: sample.sent,
      completed: sample.completed,
      failed: sample.failed,
      ...(sample.firstError ? { firstError: sample.firstError } : {}),
      ttft: percentiles(sample.ttftMs),
      e2e: percentiles(sample.e2eMs),
      throughput: sample.completed / (sample.wallMs / 1000),
      perWorker: after.map((c, i) => c.done - before[i].done),
      prefixHitRate: queries > 0 ? hits / queries : NaN,
      usage,
    };
  } finally {
    await Promise.all(children.map((child) => group.stop(child)));
  }
}

/**
 * The cores of the workers, the load client and the balancer: both the load and the proxy core. Four workers and
 * the client on one core delay each other's timers (noise in every TTFT); the gateway, pinned to the proxy core, uses
 * a small part of it here.
 */
export function routingLoadCpus(plan: Pick<SuiteContext["plan"], "loadCpus" | "targetCpus">): string {
  return `${plan.loadCpus},${plan.targetCpus}`;
}

/** Runs every workload against its targets, its rounds interleaved. */
export async function runRoutingSuite(ctx: SuiteContext): Promise<RoutingRun[]> {
  const runs: RoutingRun[] = [];
  for (const workload of ROUTING_WORKLOADS) {
    const rate = offeredRate(workload, ctx.plan.routingLoad);
    const rounds = ctx.plan.quick ? 1 : workload.rounds;
    for (let round = 1; round <= rounds; round++) {
      for (const target of workload.targets) {
        ctx.say(`routing ${workload.name} at ${rate} requests/s, round ${round}/${rounds}: ${target}`);
        try {
          runs.push(await runRoutingTarget(ctx, { workload, target, rate, round }));
        } catch (error) {
          ctx.notes.push(`routing ${workload.name} ${target} round ${round}: ${error}`);
        }
      }
    }
  }
  return runs;
}
