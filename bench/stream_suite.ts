/** Streaming: 100 and 1,000 concurrent SSE streams through each target; TTFT, inter-token gaps, proxy RSS and CPU. */

import type { Service } from "./services.ts";
import { UsageSampler } from "./proc_stats.ts";
import type { StreamRun } from "./results.ts";
import { percentiles } from "./stats.ts";
import type { StreamSample } from "./stream_client.ts";
import { requestTo, settle, type SuiteContext, suiteTargetOptions, suiteWorker } from "./suite_context.ts";
import { beyondCeiling, startTargets, type Target } from "./targets.ts";
import { chatBody } from "./http_request.ts";

const CLIENT = new URL("./stream_client.ts", import.meta.url).pathname;

/** Runs the stream client in its own process pinned to the load core, and reads its JSON sample. */
async function streamBatch(ctx: SuiteContext, target: Target, streams: number): Promise<StreamSample> {
  const { streamWorker } = ctx.plan;
  const body = chatBody({ model: "mock-worker", stream: true, maxTokens: streamWorker.maxTokens });
  const requestPath = `${ctx.workDir}/stream-request.json`;
  await Deno.writeTextFile(requestPath, JSON.stringify(requestTo(target, body)));
  const timeoutMs = 30_000 + ctx.plan.streamRampMs + streamWorker.ttftMs +
    streamWorker.tokenDelayMs * streamWorker.maxTokens;
  const output = await new Deno.Command("taskset", {
    args: [
      "-c",
      ctx.plan.loadCpus,
      Deno.execPath(),
      "run",
      "-A",
      CLIENT,
      requestPath,
      String(streams),
      String(timeoutMs),
      String(ctx.plan.streamRampMs),
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs + 30_000),
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success || !text) {
    throw new Error(`stream client failed: ${new TextDecoder().decode(output.stderr).slice(-500)}`);
  }
  return JSON.parse(text.split("\n").at(-1)!);
}

/** Runs the streaming suite: for each stream count, every round visits every target in turn. */
export async function runStreamSuite(ctx: SuiteContext, redis: Service): Promise<StreamRun[]> {
  const { plan } = ctx;
  const worker = await suiteWorker(ctx, "worker-streaming", plan.streamWorker);
  const targets = await startTargets(
    beyondCeiling(plan.targets),
    suiteTargetOptions(ctx, { upstreamUrl: worker.url, redisUrl: redis.url, suite: "streaming" }),
  );
  for (const target of targets) await streamBatch(ctx, target, 20).catch(() => {}); // warm-up
  const runs: StreamRun[] = [];
  for (const streams of plan.streamCounts) {
    for (let round = 1; round <= plan.streamRounds; round++) {
      for (const target of targets) {
        ctx.say(`streaming ${streams} streams, round ${round}/${plan.streamRounds}: ${target.name}`);
        const sampler = target.child ? new UsageSampler(target.child.pid, { intervalMs: 50 }) : undefined;
        try {
          const sample = await streamBatch(ctx, target, streams);
          runs.push({
            round,
            target: target.name,
            streams,
            completed: sample.completed,
            failed: sample.failed,
            ...(sample.firstError ? { firstError: sample.firstError } : {}),
            ttft: percentiles(sample.ttftMs),
            gaps: percentiles(sample.gapsMs),
            usage: sampler?.stop() ?? null,
          });
        } catch (error) {
          sampler?.stop();
          ctx.notes.push(`streaming ${target.name} ${streams} streams, round ${round}: ${error}`);
        }
        await settle(target.child?.pid);
      }
    }
  }
  for (const target of targets) if (target.child) await ctx.group.stop(target.child);
  await ctx.group.stop(worker.child);
  return runs;
}
