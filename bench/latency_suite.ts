/** Latency: one connection (wrk, closed loop) and fixed offered rates (vegeta, open loop) against a worker with a fixed latency. */

import type { Service } from "./services.ts";
import type { LatencyRun } from "./results.ts";
import { requestTo, settle, type SuiteContext, suiteTargetOptions, suiteWorker } from "./suite_context.ts";
import { beyondCeiling, startTargets } from "./targets.ts";
import { chatBody } from "./http_request.ts";
import { runVegeta } from "./vegeta.ts";
import { runWrk } from "./wrk.ts";

/** A target that answers less than this share of an open-loop run is not tried at higher rates. */
const FAILING = 0.5;

/** Runs the latency suite: every round visits every target in turn. */
export async function runLatencySuite(ctx: SuiteContext, redis: Service): Promise<LatencyRun[]> {
  const { plan } = ctx;
  const worker = await suiteWorker(ctx, "worker-latency", plan.latencyWorker);
  const targets = await startTargets(
    beyondCeiling(plan.targets),
    suiteTargetOptions(ctx, { upstreamUrl: worker.url, redisUrl: redis.url, suite: "latency" }),
  );
  const body = chatBody({ model: "mock-worker", stream: false, maxTokens: plan.latencyWorker.maxTokens });
  const wrkOptions = { wrk: ctx.tools.wrk, cpus: plan.loadCpus, scriptPath: `${ctx.workDir}/latency.lua` };
  for (const target of targets) {
    await runWrk(requestTo(target, body), { ...wrkOptions, connections: 8, seconds: 1 }); // warm-up (JIT, pools)
    await settle(target.child?.pid);
  }
  const runs: LatencyRun[] = [];
  for (let round = 1; round <= plan.rounds; round++) {
    for (const target of targets) {
      ctx.say(`latency round ${round}/${plan.rounds}: ${target.name}`);
      const request = requestTo(target, body);
      const run: LatencyRun = { round, target: target.name, oneConnection: null, open: [] };
      try {
        run.oneConnection = await runWrk(request, { ...wrkOptions, connections: 1, seconds: plan.latencySeconds });
      } catch (error) {
        ctx.notes.push(`latency ${target.name} one connection, round ${round}: ${error}`);
      }
      await settle(target.child?.pid);
      for (const rate of plan.rates) {
        try {
          const result = await runVegeta(request, {
            vegeta: ctx.tools.vegeta,
            cpus: plan.loadCpus,
            rate,
            seconds: plan.latencySeconds,
            workDir: ctx.workDir,
          });
          run.open.push(result);
          await settle(target.child?.pid);
          if (result.successRatio < FAILING) break;
        } catch (error) {
          ctx.notes.push(`latency ${target.name} at ${rate} rps, round ${round}: ${error}`);
          break;
        }
      }
      runs.push(run);
    }
  }
  for (const target of targets) if (target.child) await ctx.group.stop(target.child);
  await ctx.group.stop(worker.child);
  return runs;
}
