import assert from "node:assert/strict";
import type { RoutingResults, RoutingRun } from "./results.ts";
import { routingChart, routingGoals, routingSection, summarize } from "./routing_report.ts";
import { blindHitRate, offeredRate, ROUTING_WORKLOADS, serviceSeconds, systemTokens } from "./routing_suite.ts";
import { percentiles } from "./stats.ts";

function runOf(workload: string, target: string, ttftP90: number): RoutingRun {
  return {
    workload,
    target,
    round: 1,
    rate: 10,
    sent: 100,
    completed: 100,
    failed: 0,
    ttft: { ...percentiles([ttftP90 / 2, ttftP90]), p90: ttftP90 },
    e2e: percentiles([ttftP90 * 2]),
    throughput: 9.5,
    perWorker: [25, 25, 25, 25],
    prefixHitRate: 0.5,
    usage: null,
  };
}

function results(p90s: Record<string, Record<string, number>>): RoutingResults {
  return {
    startedAt: "a",
    finishedAt: "b",
    loadAverage: { start: "1", end: "1" },
    workloads: ROUTING_WORKLOADS.map((w) => ({ ...w, rate: 10 })),
    runs: Object.entries(p90s).flatMap(([workload, targets]) =>
      Object.entries(targets).map(([target, p90]) => runOf(workload, target, p90))
    ),
  };
}

Deno.test("the routing goals are met or not by the measured TTFT p90s, and unmeasured when a run is missing", () => {
  const good = results({
    "multi-tenant": { round_robin: 3_000, prefix: 900 },
    "no-prefix": { least_request: 400, prefix: 430 },
    "slow-worker": { round_robin: 2_000, least_request: 300, load: 250 },
  });
  assert.deepEqual(routingGoals(good).map((g) => g.met), [true, true, true]);
  const bad = results({
    "multi-tenant": { round_robin: 3_000, prefix: 1_100 },
    "no-prefix": { least_request: 400, prefix: 450 },
    "slow-worker": { round_robin: 2_000, least_request: 2_100, load: 250 },
  });
  assert.deepEqual(routingGoals(bad).map((g) => g.met), [false, false, false]);
  assert.deepEqual(routingGoals(results({})).map((g) => g.met), [undefined, undefined, undefined]);
});

Deno.test("the routing section has a table per workload and the chart a bar per measured run", () => {
  const r = results({ "multi-tenant": { service: 5_000, prefix: 500 } });
  const section = routingSection(r, { chartPath: "routing.svg", seconds: 12, warmupSeconds: 4 });
  for (const w of ROUTING_WORKLOADS) assert.match(section, new RegExp(`### ${w.name}: 10\\.0 requests/s offered`));
  assert.match(section, /\| one Service URL \| 2,500 \| 5,000 \|/);
  assert.equal((routingChart(r).match(/class="bar"/g) ?? []).length, 2);
  assert.equal(routingSection(null, { chartPath: "x", seconds: 1, warmupSeconds: 0 }), "Not run.");
});

Deno.test("the offered rate is 80% of what the workers complete when routing ignores prefixes", () => {
  const [multiTenant, , slow] = ROUTING_WORKLOADS;
  const w = multiTenant.worker;
  assert.equal(blindHitRate(multiTenant), 800 / 126 / 16, "one cache holds 800 of the 16 prompts' 126 blocks each");
  const system = (1 - blindHitRate(multiTenant)) * systemTokens(multiTenant);
  const blind = serviceSeconds(w, { uncachedTokens: multiTenant.ownWords + 4 + 16 + system });
  assert.equal(offeredRate(multiTenant, 0.8), Math.round(0.8 * 4 * w.maxNumSeqs / blind * 10) / 10);
  assert.ok(offeredRate(slow, 0.8) < offeredRate({ ...slow, slowTokenDelayMs: undefined }, 0.8), "a slow worker");
});

Deno.test("a target's figures are the medians of its rounds, its failures summed", () => {
  const r = results({});
  r.runs = [300, 100, 200].map((p90, i) => ({ ...runOf("no-prefix", "prefix", p90), round: i + 1, failed: 1 }));
  r.runs[1].perWorker = [10, 20, 30, 40];
  const summary = summarize(r, "no-prefix", "prefix")!;
  assert.deepEqual([summary.rounds, summary.ttftP90, summary.failed], [3, 200, 3]);
  assert.deepEqual(summary.perWorker, [25, 25, 25, 25]);
  assert.equal(summarize(r, "no-prefix", "load"), undefined);
});
