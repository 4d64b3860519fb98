import assert from "node:assert/strict";
import type { BenchResults, CeilingRun } from "./results.ts";
import { performanceGoals } from "./summary.ts";
import type { TargetName } from "./targets.ts";

/** A ceiling round where a target passed `rps` requests/s on one whole core. */
function ceilingRun(target: TargetName, rps: number): CeilingRun {
  return {
    round: 1,
    target,
    wrk: { requestsPerSecond: rps, p50Ms: 1, p99Ms: 2, non2xx: 0, socketErrors: 0 } as CeilingRun["wrk"],
    usage: { cpuCores: 1, cpuSeconds: 4, peakRssBytes: 0 } as CeilingRun["usage"],
  };
}

function results(ceiling: CeilingRun[]): BenchResults {
  return { ceiling, latency: [], streaming: [] } as unknown as BenchResults;
}

Deno.test("performance goals: CPU per request is one over requests per CPU-second, and must meet both the µs goal and 1.5× the pooled floor", () => {
  // Floor 100 µs; Nexus in memory 60 µs (under 65 and under 150), Redis 160 µs (over 75 and over 150).
  const [redis, memory] = performanceGoals(results([
    ceilingRun("pool-proxy", 10_000),
    ceilingRun("nexus-memory", 1e6 / 60),
    ceilingRun("nexus-redis", 6_250),
  ]));
  assert.match(memory.measured, /^60 µs \(16667 per CPU-second\), 0\.6× the bare pooled proxy's 100 µs$/);
  assert.equal(memory.met, true);
  assert.match(redis.measured, /^160 µs .* 1\.6× the bare pooled proxy's 100 µs$/);
  assert.equal(redis.met, false);
  // Under the µs goal but more than 1.5× a faster floor: not met.
  const [, nearFloor] = performanceGoals(
    results([ceilingRun("pool-proxy", 50_000), ceilingRun("nexus-memory", 1e6 / 60)]),
  );
  assert.equal(nearFloor.met, false);
});

Deno.test("performance goals: a goal whose suite did not run is not measured, not failed", () => {
  const goals = performanceGoals(results([]));
  assert.equal(goals.length, 7);
  for (const goal of goals) assert.equal(goal.met, undefined, goal.goal);
});
