/** The routing suite's part of BENCHMARKS.md: its goals, one table per workload, and the TTFT chart. */

import { barChartSvg } from "./chart.ts";
import { table } from "./markdown.ts";
import type { RoutingResults, RoutingRun } from "./results.ts";
import { median } from "./stats.ts";
import {
  blindHitRate,
  ROUTING_TARGET_LABELS,
  ROUTING_TARGETS,
  ROUTING_WORKERS,
  type RoutingWorkload,
  systemTokens,
} from "./routing_suite.ts";
import type { GoalStatus } from "./summary.ts";

const COLORS: Record<string, string> = {
  service: "#7f7f7f",
  round_robin: "#ff7f0e",
  least_request: "#1f77b4",
  load: "#2ca02c",
  prefix: "#d62728",
};

/** On the no-prefix workload `prefix` may be this much slower than least_request before it counts as worse. */
export const NOISE = 1.1;

/** A target under a workload over its rounds: medians of each figure (failures summed). */
export interface RoutingSummary {
  rounds: number;
  rate: number;
  ttftP50: number;
  ttftP90: number;
  ttftP99: number;
  e2eP90: number;
  throughput: number;
  prefixHitRate: number;
  /** Each worker's median. */
  perWorker: number[];
  failed: number;
  firstError: string | undefined;
  cpuCores: number;
}

/** The summary of a target under a workload, or undefined when it was not measured. */
export function summarize(routing: RoutingResults, workload: string, target: string): RoutingSummary | undefined {
  const runs = routing.runs.filter((r) => r.workload === workload && r.target === target);
  if (runs.length === 0) return undefined;
  const of = (pick: (r: RoutingRun) => number | undefined) => median(runs.map((r) => pick(r) ?? NaN));
  return {
    rounds: runs.length,
    rate: runs[0].rate,
    ttftP50: of((r) => r.ttft.p50),
    ttftP90: of((r) => r.ttft.p90),
    ttftP99: of((r) => r.ttft.p99),
    e2eP90: of((r) => r.e2e.p90),
    throughput: of((r) => r.throughput),
    prefixHitRate: of((r) => r.prefixHitRate),
    perWorker: runs[0].perWorker.map((_, i) => of((r) => r.perWorker[i])),
    failed: runs.reduce((sum, r) => sum + r.failed, 0),
    firstError: runs.map((r) => r.firstError).find(Boolean),
    cpuCores: of((r) => r.usage?.cpuCores),
  };
}

function fixed(value: number | undefined, digits = 0): string {
  return value !== undefined && Number.isFinite(value)
    ? value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "–";
}

/** TTFT p90 of a target under a workload (median over rounds), ms; NaN when not measured. */
function p90(routing: RoutingResults, workload: string, target: string): number {
  return summarize(routing, workload, target)?.ttftP90 ?? NaN;
}

/** " (a–b over n rounds)": the range of a target's TTFT p90 over its rounds, when it ran more than one. */
function spread(routing: RoutingResults, workload: string, target: string): string {
  const values = routing.runs.filter((r) => r.workload === workload && r.target === target).map((r) => r.ttft.p90);
  if (values.length < 2) return "";
  return ` (${fixed(Math.min(...values))}–${fixed(Math.max(...values))} over ${values.length} rounds)`;
}

/** How many rounds each target of a workload ran (the most of any target). */
function roundsOf(routing: RoutingResults, workload: string): number {
  return Math.max(0, ...routing.runs.filter((r) => r.workload === workload).map((r) => r.round));
}

/** The routing goals of issue 10, checked against the results. */
export function routingGoals(routing: RoutingResults): GoalStatus[] {
  const known = (...values: number[]) => values.every(Number.isFinite);
  const rr = p90(routing, "multi-tenant", "round_robin");
  const prefix = p90(routing, "multi-tenant", "prefix");
  const plainPrefix = p90(routing, "no-prefix", "prefix");
  const plainLeast = p90(routing, "no-prefix", "least_request");
  const slowRr = p90(routing, "slow-worker", "round_robin");
  const slowLoad = p90(routing, "slow-worker", "load");
  const slowLeast = p90(routing, "slow-worker", "least_request");
  return [
    {
      goal: "multi-tenant: prefix TTFT p90 ≥ 3× lower than round_robin",
      measured: `${fixed(rr / prefix, 1)}× (${fixed(prefix)} ms vs ${fixed(rr)} ms)`,
      met: known(rr, prefix) ? rr / prefix >= 3 : undefined,
    },
    {
      goal: `no shared prefix: prefix TTFT p90 not worse than least_request (within ${Math.round((NOISE - 1) * 100)}%)`,
      measured: `${fixed(plainPrefix)} ms${spread(routing, "no-prefix", "prefix")} vs ${fixed(plainLeast)} ms${
        spread(routing, "no-prefix", "least_request")
      }; load: ${fixed(p90(routing, "no-prefix", "load"))} ms${spread(routing, "no-prefix", "load")}`,
      met: known(plainPrefix, plainLeast) ? plainPrefix <= plainLeast * NOISE : undefined,
    },
    {
      goal: "one slow worker: load and least_request TTFT p90 lower than round_robin",
      measured: `load ${fixed(slowLoad)} ms, least_request ${fixed(slowLeast)} ms, round_robin ${fixed(slowRr)} ms`,
      met: known(slowRr, slowLoad, slowLeast) ? slowLoad < slowRr && slowLeast < slowRr : undefined,
    },
  ];
}

/** The TTFT p90 chart: one group of bars per workload, one bar per target. */
export function routingChart(routing: RoutingResults | null): string {
  const workloads = routing?.workloads.map((w) => w.name) ?? [];
  return barChartSvg(
    workloads.map((name) => ({ label: name, values: ROUTING_TARGETS.map((t) => p90(routing!, name, t)) })),
    {
      title: "time to first token, p90",
      yLabel: "ms (log scale)",
      series: ROUTING_TARGETS.map((t) => ({ name: ROUTING_TARGET_LABELS[t], color: COLORS[t] })),
      note: `${ROUTING_WORKERS} mock workers with a prefix cache; open loop at the offered rate of each workload.`,
    },
  );
}

function workloadTable(routing: RoutingResults, workload: string): string {
  const rows = ROUTING_TARGETS.map((target) => {
    const r = summarize(routing, workload, target);
    if (!r) return [ROUTING_TARGET_LABELS[target], "not run", "", "", "", "", "", "", "", ""];
    return [
      ROUTING_TARGET_LABELS[target],
      fixed(r.ttftP50),
      fixed(r.ttftP90),
      fixed(r.ttftP99),
      fixed(r.e2eP90),
      `${fixed(r.throughput, 1)} / ${fixed(r.rate, 1)}`,
      Number.isFinite(r.prefixHitRate) ? `${fixed(r.prefixHitRate * 100, 1)}%` : "–",
      r.perWorker.map((n) => fixed(n)).join(" / "),
      r.failed ? `${r.failed} (${(r.firstError ?? "").replaceAll("|", "/").slice(0, 60)})` : "0",
      fixed(r.cpuCores, 2),
    ];
  });
  return table([
    "target",
    "TTFT p50 ms",
    "TTFT p90 ms",
    "TTFT p99 ms",
    "end-to-end p90 ms",
    "answered/s / offered",
    "prefix hit rate",
    "requests per worker",
    "failed",
    "gateway CPU (cores)",
  ], rows);
}

/** The "Routing" section of BENCHMARKS.md. */
export function routingSection(
  routing: RoutingResults | null,
  options: { chartPath: string; seconds: number; warmupSeconds: number },
) {
  if (!routing || routing.runs.length === 0) return "Not run.";
  const goals = table(
    ["goal (issue 10)", "measured", "status"],
    routingGoals(routing).map((
      g,
    ) => [g.goal, g.measured, g.met === undefined ? "not measured" : g.met ? "**met**" : "**not met**"]),
  );
  const w = (routing.workloads[0] as unknown as RoutingWorkload).worker;
  const shared = routing.workloads.find((l) => (l as unknown as RoutingWorkload).tenants > 0) as unknown as
    | RoutingWorkload
    | undefined;
  const blind = shared
    ? `${shared.name}: ${shared.worker.kvBlocks} blocks for ${shared.tenants} prompts of ${
      Math.ceil(systemTokens(shared) / 16)
    } blocks, ${fixed(blindHitRate(shared) * 100)}%`
    : "no workload shares prompts";
  const workloads = routing.workloads.map((workload) =>
    `### ${workload.name}: ${fixed(workload.rate, 1)} requests/s offered${
      roundsOf(routing, workload.name) > 1 ? `, medians of ${roundsOf(routing, workload.name)} rounds` : ""
    }\n\n${workload.about}\n\n${workloadTable(routing, workload.name)}`
  ).join("\n\n");
  return `Measured ${routing.startedAt} – ${routing.finishedAt}; load average ${routing.loadAverage.start} at the start, ${routing.loadAverage.end} at the end.
Run alone: \`deno task bench --suites=routing\` (about ${
    Math.ceil(routing.runs.length * (options.warmupSeconds + options.seconds + 5) / 60)
  } minutes; the other sections of this file are kept).

${goals}

![time to first token p90 per workload and target](${options.chartPath})

- Workers: ${ROUTING_WORKERS} mock workers (\`deno run -A worker/main.ts\`) on both cores (so is the load client), each
  \`WORKER_MAX_NUM_SEQS=${w.maxNumSeqs}\` (more requests wait in its queue), \`WORKER_KV_BLOCKS=${w.kvBlocks}\` (blocks of 16
  tokens), \`WORKER_TTFT_MS=${w.ttftMs}\`, \`WORKER_PREFILL_MS_PER_TOKEN=${w.prefillMsPerToken}\` (a prompt token not in the
  worker's prefix cache costs that much before the first token), \`WORKER_TOKEN_DELAY_MS=${w.tokenDelayMs}\`,
  \`WORKER_MAX_TOKENS=${w.maxTokens}\`. Fresh workers (cold caches) for every target.
- Load: \`bench/routing_client.ts\`, streamed chat completions sent open loop (Poisson arrivals, the same seeded
  requests in the same order for every target): ${options.warmupSeconds} s of warm-up (sent the same way, not measured: caches fill,
  queues settle), then ${options.seconds} s measured, then every answer is awaited. The offered rate is 80% of what the workers
  complete at full use under today's routing, which ignores prefixes: a request finds its tenant's system prompt in
  the worker's cache only as often as one worker's cache holds a tenant's share of all of them (${blind}). So one Service URL and round_robin load the workers to about 80%; a prefix-aware router
  needs less worker time per request.
- Targets: Nexus (\`deno run -A gateway/main.ts\`, pinned to the proxy core) with the ${ROUTING_WORKERS} workers as the
  endpoints of one upstream and \`GATEWAY_PICKER\` set to each picker; and **one Service URL**, today's behaviour in
  Kubernetes: Nexus with a single URL that points at \`bench/tcp_balancer.ts\`, which sends each new TCP connection to
  a worker drawn at random, as kube-proxy's iptables rules do. The pooled upstream client keeps its connections and
  reuses the one returned last, so requests follow connections, not load or prefixes.
- TTFT: from sending the request to the first token the client reads; it includes the wait in a worker's queue.
  Answered/s: measured answers completed from the first measured send to the last one's end. Prefix hit rate: prompt
  tokens found cached over prompt tokens looked up, from the workers' own \`vllm:prefix_cache_hits_total\` and
  \`vllm:prefix_cache_queries_total\`; requests per worker: each worker's \`vllm:request_success_total\`; both over the
  whole run, warm-up included (cold caches count).

${workloads}`;
}
