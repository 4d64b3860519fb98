/** Medians over rounds and "added" latency (target minus direct in the same round), from the raw results. */

import type { BenchResults, CeilingRun, LatencyRun, StreamRun } from "./results.ts";
import { median } from "./stats.ts";
import type { TargetName } from "./targets.ts";
import type { OpenLoopResult } from "./vegeta.ts";

/** The median over rounds of `value(run)` for one target; NaN when no round has it. */
function medianOf<R extends { round: number; target: TargetName }>(
  runs: R[],
  target: TargetName,
  value: (run: R) => number | undefined,
): number {
  return median(runs.filter((r) => r.target === target).map((r) => value(r) ?? NaN));
}

/** The median over rounds of (target - direct) measured in the same round (callers pass one stream count). */
function medianAdded<R extends { round: number; target: TargetName }>(
  runs: R[],
  target: TargetName,
  value: (run: R) => number | undefined,
): number {
  const diffs: number[] = [];
  for (const run of runs.filter((r) => r.target === target)) {
    const direct = runs.find((r) => r.target === "direct" && r.round === run.round);
    if (direct) diffs.push((value(run) ?? NaN) - (value(direct) ?? NaN));
  }
  return median(diffs);
}

/** Latency of one target with one connection: medians and added medians, ms. */
export function oneConnection(runs: LatencyRun[], target: TargetName) {
  return {
    p50: medianOf(runs, target, (r) => r.oneConnection?.p50Ms),
    p99: medianOf(runs, target, (r) => r.oneConnection?.p99Ms),
    rps: medianOf(runs, target, (r) => r.oneConnection?.requestsPerSecond),
    addedP50: medianAdded(runs, target, (r) => r.oneConnection?.p50Ms),
    addedP99: medianAdded(runs, target, (r) => r.oneConnection?.p99Ms),
  };
}

function atRate(run: LatencyRun, rate: number): OpenLoopResult | undefined {
  return run.open.find((o) => o.rate === rate);
}

/** Open-loop latency of one target at one offered rate: medians and added medians, ms; success ratio. */
export function openLoop(runs: LatencyRun[], target: TargetName, rate: number) {
  const measured = runs.filter((r) => r.target === target && atRate(r, rate));
  return {
    rounds: measured.length,
    p50: medianOf(runs, target, (r) => atRate(r, rate)?.p50Ms),
    p99: medianOf(runs, target, (r) => atRate(r, rate)?.p99Ms),
    max: medianOf(runs, target, (r) => atRate(r, rate)?.maxMs),
    success: medianOf(runs, target, (r) => atRate(r, rate)?.successRatio),
    throughput: medianOf(runs, target, (r) => atRate(r, rate)?.throughput),
    addedP50: medianAdded(runs, target, (r) => atRate(r, rate)?.p50Ms),
    addedP99: medianAdded(runs, target, (r) => atRate(r, rate)?.p99Ms),
    topError: measured.map((r) => atRate(r, rate)?.topError).find(Boolean),
  };
}

/** Throughput ceiling of one target: median requests/s and latency, proxy CPU and peak RSS. */
export function ceiling(runs: CeilingRun[], target: TargetName) {
  return {
    rps: medianOf(runs, target, (r) => r.wrk?.requestsPerSecond),
    p50: medianOf(runs, target, (r) => r.wrk?.p50Ms),
    p99: medianOf(runs, target, (r) => r.wrk?.p99Ms),
    non2xx: medianOf(runs, target, (r) => r.wrk ? r.wrk.non2xx + r.wrk.socketErrors : undefined),
    cpuCores: medianOf(runs, target, (r) => r.usage?.cpuCores),
    /** Requests per second of proxy CPU: what one whole core would pass, even when others took part of it. */
    perCore: medianOf(
      runs,
      target,
      (r) => r.wrk && r.usage && r.usage.cpuCores > 0 ? r.wrk.requestsPerSecond / r.usage.cpuCores : undefined,
    ),
    rssMb: medianOf(runs, target, (r) => r.usage ? r.usage.peakRssBytes / 2 ** 20 : undefined),
  };
}

/** Streaming through one target at one concurrency: TTFT and inter-token gaps (ms), their added medians, usage. */
export function streaming(runs: StreamRun[], target: TargetName, streams: number) {
  const subset = runs.filter((r) => r.streams === streams);
  return {
    rounds: subset.filter((r) => r.target === target).length,
    failed: medianOf(subset, target, (r) => r.failed),
    ttftP50: medianOf(subset, target, (r) => r.ttft.p50),
    ttftP99: medianOf(subset, target, (r) => r.ttft.p99),
    gapP50: medianOf(subset, target, (r) => r.gaps.p50),
    gapP99: medianOf(subset, target, (r) => r.gaps.p99),
    addedTtftP50: medianAdded(subset, target, (r) => r.ttft.p50),
    addedTtftP99: medianAdded(subset, target, (r) => r.ttft.p99),
    addedGapP50: medianAdded(subset, target, (r) => r.gaps.p50),
    addedGapP99: medianAdded(subset, target, (r) => r.gaps.p99),
    addedGapMean: medianAdded(subset, target, (r) => r.gaps.mean),
    rssMb: medianOf(subset, target, (r) => r.usage ? r.usage.peakRssBytes / 2 ** 20 : undefined),
    cpuCores: medianOf(subset, target, (r) => r.usage?.cpuCores),
  };
}

/** One goal of the issue, its measured value and whether it is met. */
export interface GoalStatus {
  goal: string;
  measured: string;
  met: boolean | undefined;
}

function fmt(value: number, digits = 3): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

/** Checks each goal of the issue against the results (Nexus with the Redis limiter, as the goals ask). */
export function goals(results: BenchResults): GoalStatus[] {
  const nexus: TargetName = "nexus-redis";
  const check = (value: number, ok: (v: number) => boolean) => Number.isFinite(value) ? ok(value) : undefined;
  const one = oneConnection(results.latency, nexus);
  const open = openLoop(results.latency, nexus, 1000);
  const nexusRps = ceiling(results.ceiling, nexus).perCore;
  const nginxRps = ceiling(results.ceiling, "nginx").perCore;
  const litellmRps = ceiling(results.ceiling, "litellm").perCore;
  const counts = [...new Set(results.streaming.map((r) => r.streams))].sort((a, b) => a - b);
  const streamRows = counts.map((n) => ({ n, s: streaming(results.streaming, nexus, n) }));
  const worstTtft = Math.max(...streamRows.map((r) => r.s.addedTtftP50));
  const worstGap = Math.max(...streamRows.map((r) => r.s.addedGapP50));
  const rss1000 = streaming(results.streaming, nexus, 1000).rssMb;
  // Traces on against traces off, both with the in-memory limiter: the cost of tracing every request.
  const untraced = {
    one: oneConnection(results.latency, "nexus-memory"),
    rps: ceiling(results.ceiling, "nexus-memory"),
  };
  const traced = { one: oneConnection(results.latency, "nexus-traced"), rps: ceiling(results.ceiling, "nexus-traced") };
  const tracedShare = traced.rps.perCore / untraced.rps.perCore;
  const perCount = (pick: (s: ReturnType<typeof streaming>) => number) =>
    streamRows.map((r) => `${fmt(pick(r.s))} ms at ${r.n}`).join(", ");
  return [
    {
      goal: "p50 added ≤ 0.15 ms, one connection",
      measured: `${fmt(one.addedP50)} ms`,
      met: check(one.addedP50, (v) => v <= 0.15),
    },
    {
      goal: "p99 added < 1 ms at 1,000 requests/s, open loop",
      measured: `${fmt(open.addedP99)} ms (success ${fmt(open.success * 100, 1)}%)`,
      met: check(open.addedP99, (v) => v < 1 && open.success >= 0.999),
    },
    {
      goal: "throughput ≥ 50% of nginx's, one core each",
      measured: `${fmt((nexusRps / nginxRps) * 100, 0)}% (${fmt(nexusRps, 0)} vs ${
        fmt(nginxRps, 0)
      } requests per CPU-second)`,
      met: check(nexusRps / nginxRps, (v) => v >= 0.5),
    },
    {
      goal: "throughput ≥ 10× LiteLLM's",
      measured: `${fmt(nexusRps / litellmRps, 1)}× (${fmt(nexusRps, 0)} vs ${
        fmt(litellmRps, 0)
      } requests per CPU-second)`,
      met: check(nexusRps / litellmRps, (v) => v >= 10),
    },
    {
      goal: "streaming: time to first token added < 1 ms (p50)",
      measured: perCount((s) => s.addedTtftP50),
      met: check(worstTtft, (v) => v < 1),
    },
    {
      goal: "streaming: inter-token latency added < 0.1 ms (p50)",
      measured: perCount((s) => s.addedGapP50),
      met: check(worstGap, (v) => v < 0.1),
    },
    {
      goal: "the cost of traces on is stated (every request sampled, OTLP/protobuf; against nexus-memory)",
      measured: `added p50 ${fmt(traced.one.addedP50)} ms vs ${fmt(untraced.one.addedP50)} ms, one connection; ` +
        `throughput ${fmt(tracedShare * 100, 0)}% (${fmt(traced.rps.perCore, 0)} vs ${
          fmt(untraced.rps.perCore, 0)
        } requests per CPU-second)`,
      met: check(tracedShare, () => true),
    },
    {
      goal: "gateway RSS < 150 MB with 1,000 concurrent streams",
      measured: `${fmt(rss1000, 0)} MB peak`,
      met: check(rss1000, (v) => v < 150),
    },
  ];
}

/**
 * The goals of the performance issue (12): CPU per request with every feature on (absolute, and against the bare
 * pooled proxy, the floor a proxy over the same client cannot beat), added latency, memory per stream.
 */
export function performanceGoals(results: BenchResults): GoalStatus[] {
  const check = (value: number, ok: (v: number) => boolean) => Number.isFinite(value) ? ok(value) : undefined;
  const micros = (target: TargetName) => 1e6 / ceiling(results.ceiling, target).perCore;
  const floor = micros("pool-proxy");
  const cpu = (target: TargetName, goal: number) => {
    const us = micros(target);
    return {
      measured: `${fmt(us, 0)} µs (${fmt(1e6 / us, 0)} per CPU-second), ${fmt(us / floor, 1)}× the bare pooled ` +
        `proxy's ${fmt(floor, 0)} µs`,
      met: check(us, (v) => v <= goal && v <= 1.5 * floor),
    };
  };
  const added = (target: TargetName) => oneConnection(results.latency, target).addedP50;
  const open = openLoop(results.latency, "nexus-redis", 1000);
  const rss = streaming(results.streaming, "nexus-redis", 1000).rssMb;
  const ttft = streaming(results.streaming, "nexus-redis", 100).addedTtftP50;
  return [
    {
      goal: "CPU per request, Redis limiter: ≤ 75 µs and within 1.5× of the bare pooled proxy",
      ...cpu("nexus-redis", 75),
    },
    {
      goal: "CPU per request, in-memory limiter: ≤ 65 µs and within 1.5× of the bare pooled proxy",
      ...cpu("nexus-memory", 65),
    },
    {
      goal: "added p50 at one connection, in memory: ≤ 0.15 ms",
      measured: `${fmt(added("nexus-memory"))} ms (nginx ${fmt(added("nginx"))} ms)`,
      met: check(added("nexus-memory"), (v) => v <= 0.15),
    },
    {
      goal: "added p50 at one connection, Redis: ≤ 0.25 ms",
      measured: `${fmt(added("nexus-redis"))} ms`,
      met: check(added("nexus-redis"), (v) => v <= 0.25),
    },
    {
      goal: "added p99 at 1,000 requests/s open loop, Redis: < 2 ms",
      measured: `${fmt(open.addedP99)} ms (nginx ${fmt(openLoop(results.latency, "nginx", 1000).addedP99)} ms)`,
      met: check(open.addedP99, (v) => v < 2 && open.success >= 0.999),
    },
    {
      goal: "RSS with 1,000 concurrent streams, Redis: < 150 MB",
      measured: `${fmt(rss, 0)} MB peak (bare fetch proxy ${
        fmt(streaming(results.streaming, "fetch-proxy", 1000).rssMb, 0)
      } MB)`,
      met: check(rss, (v) => v < 150),
    },
    {
      goal: "time to first token added at 100 streams (p50), Redis: < 0.5 ms",
      measured: `${fmt(ttft)} ms (bare fetch proxy ${
        fmt(streaming(results.streaming, "fetch-proxy", 100).addedTtftP50)
      } ms)`,
      met: check(ttft, (v) => v < 0.5),
    },
  ];
}
