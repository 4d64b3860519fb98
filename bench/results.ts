/** The raw results of one bench run as saved to bench/results/latest.json; the report is computed from them. */

import type { ProcessUsage } from "./proc_stats.ts";
import type { Percentiles } from "./stats.ts";
import type { TargetName } from "./targets.ts";
import type { OpenLoopResult } from "./vegeta.ts";
import type { WrkResult } from "./wrk.ts";
import type { Plan } from "./plan.ts";

/** One target in one round of the latency suite. */
export interface LatencyRun {
  round: number;
  target: TargetName;
  /** wrk, one connection, closed loop. */
  oneConnection: WrkResult | null;
  /** vegeta at each offered rate (rates a target already failed at a lower rate are skipped). */
  open: OpenLoopResult[];
}

/** One target in one round of the throughput-ceiling suite. */
export interface CeilingRun {
  round: number;
  target: TargetName;
  wrk: WrkResult | null;
  error?: string;
  /** The proxy process during the run (none for direct). */
  usage: ProcessUsage | null;
}

/** One target, one stream count, one round of the streaming suite. */
export interface StreamRun {
  round: number;
  target: TargetName;
  streams: number;
  completed: number;
  failed: number;
  firstError?: string;
  ttft: Percentiles;
  gaps: Percentiles;
  usage: ProcessUsage | null;
}

/** The rate-limit exactness check: replicas on one Redis, one key, more requests than its budget. */
export interface RateLimitRun {
  replicas: number;
  budget: number;
  /** What the rule allows for this burst: the budget, plus one refill per 60 s / budget while the burst lasted. */
  allowedMin: number;
  allowedMax: number;
  sent: number;
  admitted: number;
  limited: number;
  otherStatuses: Record<string, number>;
  /** Redis calls per command name during the burst (INFO commandstats after CONFIG RESETSTAT). */
  redisCalls: Record<string, number>;
  redisCallsPerRequest: number;
  /** Round trips per request: EVALSHA/EVAL calls (the commands inside the script run on the server). */
  redisRoundTripsPerRequest: number;
  seconds: number;
}

/** One target under one workload of the routing suite. */
export interface RoutingRun {
  workload: string;
  target: string;
  round: number;
  /** Offered requests/s. */
  rate: number;
  sent: number;
  completed: number;
  failed: number;
  firstError?: string;
  /** Time to first token and to the end of the answer, ms. */
  ttft: Percentiles;
  e2e: Percentiles;
  /** Answers completed per second, from the first send to the last answer's end. */
  throughput: number;
  /** Requests each worker finished (its own vllm:request_success_total). */
  perWorker: number[];
  /** Prompt tokens found in the workers' prefix caches over those looked up (vllm:prefix_cache_*_total). */
  prefixHitRate: number;
  /** The gateway process during the run. */
  usage: ProcessUsage | null;
}

/** The routing suite: its workloads as run (with their offered rates) and one run per workload and target. */
export interface RoutingResults {
  startedAt: string;
  finishedAt: string;
  loadAverage: { start: string; end: string };
  workloads: Array<Record<string, unknown> & { name: string; about: string; rate: number }>;
  runs: RoutingRun[];
}

/** Everything one run measured, and where. */
export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  plan: Omit<Plan, "workerRoot" | "gatewayRoot" | "outRoot" | "reportOnly">;
  machine: Record<string, string>;
  versions: Record<string, string>;
  /** The command lines the harness ran, with ports replaced by placeholders. */
  commands: string[];
  /** Load average at the start and end: other work on this shared machine. */
  loadAverage: { start: string; end: string };
  latency: LatencyRun[];
  ceiling: CeilingRun[];
  streaming: StreamRun[];
  rateLimit: RateLimitRun | null;
  routing: RoutingResults | null;
  /** When each suite's results were measured (a run of some suites keeps the others' saved results). */
  measuredAt?: Partial<Record<string, string>>;
  /** Problems met while measuring (a target that failed to start, a run that threw). */
  notes: string[];
}
