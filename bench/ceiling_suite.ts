/** Throughput ceiling: wrk, closed loop, many connections, each proxy alone on its core in front of a canned upstream. */

import { UsageSampler } from "./proc_stats.ts";
import type { CeilingRun } from "./results.ts";
import type { Service } from "./services.ts";
import {
  requestTo,
  settle,
  suiteCannedUpstream,
  type SuiteContext,
  suiteTargetOptions,
  suiteWorker,
} from "./suite_context.ts";
import { startTargets } from "./targets.ts";
import { chatBody } from "./http_request.ts";
import { runWrk } from "./wrk.ts";

/** Asks the real mock worker once for an answer, so the canned upstream returns the very same bytes. */
async function workerAnswer(ctx: SuiteContext, body: string): Promise<string> {
  const worker = await suiteWorker(ctx, "worker-canned-sample", {
    ttftMs: 0,
    tokenDelayMs: 0,
    maxTokens: ctx.plan.latencyWorker.maxTokens,
  });
  try {
    const response = await fetch(`${worker.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    if (!response.ok) throw new Error(`the worker answered ${response.status}: ${await response.text()}`);
    return await response.text();
  } finally {
    await ctx.group.stop(worker.child);
  }
}

/** Runs the ceiling suite: every round visits every target in turn. */
export async function runCeilingSuite(ctx: SuiteContext, redis: Service): Promise<CeilingRun[]> {
  const redisUrl = redis.url;
  const { plan } = ctx;
  const body = chatBody({ model: "mock-worker", stream: false, maxTokens: plan.latencyWorker.maxTokens });
  const canned = await suiteCannedUpstream(ctx, "canned-upstream", await workerAnswer(ctx, body));
  const targets = await startTargets(
    plan.targets,
    suiteTargetOptions(ctx, { upstreamUrl: canned.url, redisUrl, suite: "ceiling" }),
  );
  const wrkOptions = { wrk: ctx.tools.wrk, cpus: plan.loadCpus, scriptPath: `${ctx.workDir}/ceiling.lua` };
  for (const target of targets) {
    await runWrk(requestTo(target, body), { ...wrkOptions, connections: plan.ceilingConnections, seconds: 1 });
    await settle(target.child?.pid);
  }
  const runs: CeilingRun[] = [];
  for (let round = 1; round <= plan.rounds; round++) {
    for (const target of targets) {
      ctx.say(`ceiling round ${round}/${plan.rounds}: ${target.name}`);
      const helperPids = target.name === "nexus-redis" ? [redis.child.pid] : [];
      const sampler = target.child ? new UsageSampler(target.child.pid, { helperPids }) : undefined;
      const run: CeilingRun = { round, target: target.name, wrk: null, usage: null };
      try {
        run.wrk = await runWrk(requestTo(target, body), {
          ...wrkOptions,
          connections: plan.ceilingConnections,
          seconds: plan.ceilingSeconds,
        });
      } catch (error) {
        run.error = String(error).slice(0, 300);
        ctx.notes.push(`ceiling ${target.name}, round ${round}: ${run.error}`);
      }
      run.usage = sampler?.stop() ?? null;
      runs.push(run);
      await settle(target.child?.pid);
    }
  }
  for (const target of targets) if (target.child) await ctx.group.stop(target.child);
  await ctx.group.stop(canned.child);
  return runs;
}
