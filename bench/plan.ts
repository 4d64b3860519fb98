/** The bench plan: what `deno task bench` runs, and the smaller plan of `--quick`. Parsed from the command line. */

import { TARGET_NAMES, type TargetName } from "./targets.ts";
import type { WorkerTiming } from "./services.ts";

/** Every knob of one bench run. */
export interface Plan {
  quick: boolean;
  targets: TargetName[];
  suites: SuiteName[];
  /** Rounds of each suite; tables show the median over rounds. */
  rounds: number;
  /** Seconds per latency measurement (one connection, and each open-loop rate). */
  latencySeconds: number;
  /** Open-loop offered rates, requests/s. */
  rates: number[];
  /** Seconds per closed-loop throughput measurement, and its connection count. */
  ceilingSeconds: number;
  ceilingConnections: number;
  /** Concurrent stream counts. */
  streamCounts: number[];
  streamRounds: number;
  /**
   * The stream client spreads the starts of a batch over this many ms (a herd of simultaneous connects measures the
   * accept queue, not the proxy); each stream outlasts the ramp, so all are open together at its end.
   */
  streamRampMs: number;
  /** The worker's timing in the latency suite (a fixed latency, answer not streamed). */
  latencyWorker: WorkerTiming;
  /** The worker's timing in the streaming suite. */
  streamWorker: WorkerTiming;
  /**
   * Rate-limit suite: gateway replicas on one Redis, the per-key budget per minute, concurrent clients. The limiter
   * (GCRA) admits the budget at once and then one request per 60 s / budget, so a small budget keeps the burst
   * shorter than one refill and the admitted count must equal the budget exactly.
   */
  replicas: number;
  budget: number;
  limitConcurrency: number;
  /** Routing suite: seconds of measured open-loop arrivals per workload and target, after a warm-up of its own. */
  routingSeconds: number;
  routingWarmupSeconds: number;
  /** Routing suite: offered load as a share of what the workers serve when shared prefixes are cached. */
  routingLoad: number;
  /** Core the load generators, worker and Redis use, and the core the proxy under test has alone. */
  loadCpus: string;
  targetCpus: string;
  /** Checkouts whose worker/ and gateway/ are run (the repository itself unless overridden). */
  workerRoot: string;
  gatewayRoot: string;
  /** Where BENCHMARKS.md and bench/results/ are written. */
  outRoot: string;
  /** Write the report from the saved results only, without measuring. */
  reportOnly: boolean;
}

/** The suites, in run order. */
export const SUITE_NAMES = ["latency", "ceiling", "streaming", "rate-limit", "routing"] as const;
/** One suite. */
export type SuiteName = typeof SUITE_NAMES[number];

function list<T extends string>(raw: string, allowed: readonly T[], flag: string): T[] {
  const items = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) throw new Error(`${flag}: unknown "${item}" (allowed: ${allowed.join(", ")})`);
  }
  return items as T[];
}

/** Builds the plan from command-line flags; throws naming a bad flag. */
export function parsePlan(args: string[], repoRoot: string): Plan {
  const flags = new Map<string, string>();
  for (const arg of args) {
    const match = arg.match(/^--([a-z-]+)(?:=(.*))?$/);
    if (!match) throw new Error(`unexpected argument ${JSON.stringify(arg)} (flags look like --quick or --name=value)`);
    flags.set(match[1], match[2] ?? "true");
  }
  const known = ["quick", "targets", "suites", "rounds", "worker-root", "gateway-root", "out", "report-only"];
  for (const name of flags.keys()) {
    if (!known.includes(name)) throw new Error(`unknown flag --${name} (known: ${known.join(", ")})`);
  }
  const quick = flags.get("quick") === "true";
  const rounds = Number(flags.get("rounds") ?? (quick ? 1 : 3));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 9) {
    throw new Error(`--rounds: expected 1..9, got ${flags.get("rounds")}`);
  }
  return {
    quick,
    targets: flags.has("targets") ? list(flags.get("targets")!, TARGET_NAMES, "--targets") : [...TARGET_NAMES],
    suites: flags.has("suites") ? list(flags.get("suites")!, SUITE_NAMES, "--suites") : [...SUITE_NAMES],
    rounds,
    latencySeconds: quick ? 2 : 4,
    rates: quick ? [100, 1000] : [100, 300, 1000, 2000],
    ceilingSeconds: quick ? 2 : 4,
    ceilingConnections: 64,
    streamCounts: quick ? [100] : [100, 1000],
    streamRounds: quick ? 1 : 2,
    streamRampMs: 1000,
    latencyWorker: { ttftMs: 5, tokenDelayMs: 0, maxTokens: 16 },
    streamWorker: { ttftMs: 100, tokenDelayMs: 50, maxTokens: 20 },
    replicas: 3,
    budget: quick ? 50 : 100,
    limitConcurrency: 48,
    routingSeconds: quick ? 4 : 10,
    routingWarmupSeconds: quick ? 2 : 3,
    routingLoad: 0.8,
    loadCpus: "0",
    targetCpus: "1",
    workerRoot: flags.get("worker-root") ?? repoRoot,
    gatewayRoot: flags.get("gateway-root") ?? repoRoot,
    outRoot: flags.get("out") ?? repoRoot,
    reportOnly: flags.get("report-only") === "true",
  };
}
