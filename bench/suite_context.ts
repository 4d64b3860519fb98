/** What every suite gets: the plan, the process group, tool paths, a scratch directory, and the notes list. */

import type { Plan } from "./plan.ts";
import { cpuSeconds } from "./proc_stats.ts";
import type { ProcessGroup } from "./process_group.ts";
import type { Target, TargetOptions, TargetTools } from "./targets.ts";
import { type Service, startCannedUpstream, startWorker, type WorkerTiming } from "./services.ts";
import type { BenchRequest } from "./http_request.ts";

/** Paths of every program the bench runs. */
export interface Tools extends TargetTools {
  wrk: string;
  vegeta: string;
  redisServer: string;
  redisCli: string;
}

/** Shared state of one bench run. */
export interface SuiteContext {
  plan: Plan;
  group: ProcessGroup;
  tools: Tools;
  workDir: string;
  /** Problems worth reporting (appended by suites). */
  notes: string[];
  /** Progress line on stderr. */
  say: (message: string) => void;
}

/** The chat-completion request to `target` with `body`. */
export function requestTo(target: Target, body: string): BenchRequest {
  return { url: `${target.baseUrl}/v1/chat/completions`, headers: target.headers, body };
}

/**
 * Waits until a process has gone quiet (under 5% of a core over 200 ms), at most `maxMs`: a proxy that fell
 * behind (LiteLLM at high rates) must not steal the core from the next measurement.
 */
export async function settle(pid: number | undefined, maxMs = 15_000): Promise<void> {
  if (pid === undefined) return;
  const deadline = performance.now() + maxMs;
  while (performance.now() < deadline) {
    const before = cpuSeconds(pid);
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (cpuSeconds(pid) - before < 0.01) return;
  }
}

/** The target options every suite shares: proxies on the target core, in front of `upstreamUrl`. */
export function suiteTargetOptions(
  ctx: SuiteContext,
  options: { upstreamUrl: string; redisUrl: string; suite: string },
): TargetOptions {
  return {
    group: ctx.group,
    tools: ctx.tools,
    gatewayRoot: ctx.plan.gatewayRoot,
    cpus: ctx.plan.targetCpus,
    loadCpus: ctx.plan.loadCpus,
    workDir: ctx.workDir,
    ...options,
  };
}

/** Starts the mock worker of a suite on the load core. */
export function suiteWorker(ctx: SuiteContext, name: string, timing: WorkerTiming): Promise<Service> {
  return startWorker(ctx.group, { name, root: ctx.plan.workerRoot, cpus: ctx.plan.loadCpus, timing });
}

/** Starts an nginx on the load core that answers every request with `body` at once. */
export function suiteCannedUpstream(ctx: SuiteContext, name: string, body: string): Promise<Service> {
  return startCannedUpstream(ctx.group, {
    name,
    nginx: ctx.tools.nginx,
    cpus: ctx.plan.loadCpus,
    workDir: ctx.workDir,
    body,
  });
}
