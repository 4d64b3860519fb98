/** Writes BENCHMARKS.md and the latency chart from saved results. */

import { lineChartSvg, type Series } from "./chart.ts";
import { table } from "./markdown.ts";
import type { BenchResults } from "./results.ts";
import { routingSection } from "./routing_report.ts";
import { ceiling, goals, type GoalStatus, oneConnection, openLoop, performanceGoals, streaming } from "./summary.ts";
import { TARGET_LABELS, TARGET_NAMES, type TargetName } from "./targets.ts";

const COLORS: Record<TargetName, string> = {
  direct: "#222222",
  "serve-alone": "#7f7f7f",
  "pool-proxy": "#8c564b",
  "fetch-proxy": "#9467bd",
  "nexus-memory": "#1f77b4",
  "nexus-traced": "#17becf",
  "nexus-redis": "#2ca02c",
  nginx: "#ff7f0e",
  litellm: "#d62728",
};

/** Below this share of 2xx answers a point is left off the chart and flagged in the table. */
const HEALTHY = 0.99;

function ms(value: number, digits = 3): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "–";
}

function ratio(value: number, base: number, digits = 2): string {
  return Number.isFinite(value) && Number.isFinite(base) && base > 0 ? `${(value / base).toFixed(digits)}×` : "–";
}

function num(value: number, digits = 0): string {
  return Number.isFinite(value)
    ? value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "–";
}

/** The targets that have runs in `runs` (one suite's), in table order. */
function targetsIn(runs: ReadonlyArray<{ target: TargetName }>): TargetName[] {
  const seen = new Set(runs.map((r) => r.target));
  return TARGET_NAMES.filter((t) => seen.has(t));
}

/** The latency-against-load chart: p50 and p99 of each target at each offered rate (medians over rounds). */
export function latencyChart(results: BenchResults): string {
  const targets = targetsIn(results.latency);
  const panel = (title: string, pick: (o: ReturnType<typeof openLoop>) => number) => ({
    title,
    series: targets.map((target): Series => ({
      name: TARGET_LABELS[target],
      color: COLORS[target],
      points: results.plan.rates
        .map((rate) => ({ x: rate, o: openLoop(results.latency, target, rate) }))
        .filter(({ o }) => o.rounds > 0 && o.success >= HEALTHY && Number.isFinite(pick(o)))
        .map(({ x, o }) => ({ x, y: pick(o) })),
    })),
  });
  return lineChartSvg([panel("p50 latency", (o) => o.p50), panel("p99 latency", (o) => o.p99)], {
    xLabel: "offered load, open loop (requests/s)",
    yLabel: "latency (ms), worker answers in ~" + results.plan.latencyWorker.ttftMs + " ms",
    note: `Medians of ${results.plan.rounds} round(s). A line stops where that target answered < ${
      HEALTHY * 100
    }% of requests.`,
  });
}

function goalRows(list: GoalStatus[]): string[][] {
  return list.map((
    g,
  ) => [g.goal, g.measured, g.met === undefined ? "not measured" : g.met ? "**met**" : "**not met**"]);
}

function goalSection(results: BenchResults): string {
  return table(
    ["goal (Nexus with auth, Redis limiter, routing)", "measured (median)", "status"],
    goalRows(goals(results)),
  );
}

/** The performance issue's goals; bench/FINDINGS.md explains, from a profile, the floor behind each one not met. */
function performanceSection(results: BenchResults): string {
  return table(
    ["goal (issue 12, every feature on)", "measured (median)", "status"],
    goalRows(performanceGoals(results)),
  );
}

function latencySection(results: BenchResults): string {
  const targets = targetsIn(results.latency);
  const nginxAdded = oneConnection(results.latency, "nginx").addedP50;
  const one = table(
    ["target", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms", "added p50 × nginx's", "requests/s"],
    targets.map((t) => {
      const o = oneConnection(results.latency, t);
      return [
        TARGET_LABELS[t],
        ms(o.p50),
        ms(o.p99),
        ms(o.addedP50),
        ms(o.addedP99),
        t === "direct" ? "–" : ratio(o.addedP50, nginxAdded, 1),
        num(o.rps),
      ];
    }),
  );
  const open = results.plan.rates.map((rate) => {
    const rows = targets.map((t) => {
      const o = openLoop(results.latency, t, rate);
      if (o.rounds === 0) return [TARGET_LABELS[t], "not run (failed at a lower rate)", "", "", "", "", "", ""];
      const success = `${(o.success * 100).toFixed(1)}%${
        o.success < HEALTHY && o.topError ? ` (${o.topError.replaceAll("|", "/")})` : ""
      }`;
      return [
        TARGET_LABELS[t],
        ms(o.p50),
        ms(o.p99),
        ms(o.max, 1),
        ms(o.addedP50),
        ms(o.addedP99),
        num(o.throughput),
        success,
      ];
    });
    return `#### ${rate.toLocaleString("en-US")} requests/s offered\n\n${
      table(["target", "p50 ms", "p99 ms", "max ms", "added p50 ms", "added p99 ms", "answered/s", "2xx"], rows)
    }`;
  }).join("\n\n");
  return `### One connection (wrk -c1, closed loop, ${results.plan.latencySeconds} s per round)\n\n${one}\n\n` +
    `### Open loop (vegeta, fixed offered rate, ${results.plan.latencySeconds} s per round)\n\n${open}`;
}

function ceilingSection(results: BenchResults): string {
  const targets = targetsIn(results.ceiling);
  const direct = ceiling(results.ceiling, "direct").rps;
  const nginx = ceiling(results.ceiling, "nginx");
  return table(
    [
      "target",
      "requests/s",
      "× direct",
      "× nginx",
      "proxy CPU (cores)",
      "requests per CPU-second",
      "per CPU-second × nginx",
      "p50 ms",
      "p99 ms",
      "errors",
      "proxy peak RSS MB",
    ],
    targets.map((t) => {
      const c = ceiling(results.ceiling, t);
      return [
        TARGET_LABELS[t],
        num(c.rps),
        ratio(c.rps, direct),
        ratio(c.rps, nginx.rps),
        ms(c.cpuCores, 2),
        num(c.perCore),
        ratio(c.perCore, nginx.perCore),
        ms(c.p50),
        ms(c.p99),
        num(c.non2xx),
        num(c.rssMb),
      ];
    }),
  ) + `\n\nThe proxy's core is shared with other work on this machine, so a proxy rarely gets the whole core:
"requests per CPU-second" (requests/s divided by the CPU the proxy used, Redis included for the Redis limiter) is
what one whole core would pass, and the fair "one core each" comparison. Direct has no proxy.`;
}

function streamingSection(results: BenchResults): string {
  const targets = targetsIn(results.streaming);
  const counts = [...new Set(results.streaming.map((r) => r.streams))].sort((a, b) => a - b);
  return counts.map((n) => {
    const rows = targets.map((t) => {
      const s = streaming(results.streaming, t, n);
      if (s.rounds === 0) return [TARGET_LABELS[t], "not measured", "", "", "", "", "", "", "", ""];
      return [
        TARGET_LABELS[t],
        ms(s.ttftP50, 2),
        ms(s.ttftP99, 2),
        ms(s.addedTtftP50),
        ms(s.gapP50, 2),
        ms(s.gapP99, 2),
        ms(s.addedGapP50),
        ms(s.addedGapP99),
        num(s.failed),
        t === "direct" ? "–" : `${num(s.rssMb)} / ${ms(s.cpuCores, 2)}`,
      ];
    });
    return `### ${n.toLocaleString("en-US")} concurrent streams\n\n${
      table([
        "target",
        "TTFT p50 ms",
        "TTFT p99 ms",
        "added TTFT p50 ms",
        "gap p50 ms",
        "gap p99 ms",
        "added gap p50 ms",
        "added gap p99 ms",
        "failed",
        "proxy peak RSS MB / CPU cores",
      ], rows)
    }`;
  }).join("\n\n");
}

function rateLimitSection(results: BenchResults): string {
  const r = results.rateLimit;
  if (!r) return "Not run.";
  const allowedMin = r.allowedMin ?? r.budget;
  const allowedMax = r.allowedMax ?? r.budget;
  const exact = r.admitted >= allowedMin && r.admitted <= allowedMax;
  const allowed = allowedMin === allowedMax ? num(allowedMin) : `${num(allowedMin)}–${num(allowedMax)}`;
  const calls = Object.entries(r.redisCalls).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`).join(", ");
  return table([
    "replicas",
    "budget (per minute, one key)",
    "rule allows",
    "sent",
    "admitted (200)",
    "limited (429)",
    "other",
    "exact",
    "Redis round trips per request",
    "Redis commands per request",
    "burst seconds",
  ], [[
    String(r.replicas),
    num(r.budget),
    allowed,
    num(r.sent),
    num(r.admitted),
    num(r.limited),
    Object.entries(r.otherStatuses).map(([s, n]) => `${s}: ${n}`).join(", ") || "0",
    exact ? "**yes**" : "**no**",
    ms(r.redisRoundTripsPerRequest ?? NaN, 2),
    ms(r.redisCallsPerRequest, 2),
    ms(r.seconds, 1),
  ]]) + `\n\nThe limiter is GCRA: a key may spend its whole budget at once, then gets one request back every 60 s /
budget; "rule allows" is the budget plus the refills that fell inside the burst. Redis commands during the burst,
counting those the Lua script runs inside Redis: ${calls || "none"}.`;
}

/** Renders BENCHMARKS.md: goals, machine and versions, commands, one table per scenario, the chart, findings. */
export function renderReport(
  results: BenchResults,
  options: { chartPath: string; routingChartPath: string; findings: string },
): string {
  const plan = results.plan;
  const kept = Object.entries(results.measuredAt ?? {}).filter(([, at]) => at !== results.startedAt);
  const keptLine = kept.length
    ? `\nSections kept from earlier runs (this run measured only ${(plan.suites ?? []).join(", ")}): ${
      kept.map(([suite, at]) => `${suite} measured ${at}`).join("; ")
    }.`
    : "";
  const versions = table(["component", "version"], Object.entries(results.versions).map(([k, v]) => [k, `\`${v}\``]));
  const machine = Object.entries(results.machine).map(([k, v]) => `${k}: ${v}`).join("; ");
  return `# Benchmarks

<!-- Generated by \`deno task bench\` (bench/main.ts) from bench/results/latest.json; edit bench/FINDINGS.md, not this. -->

Measured ${results.startedAt} – ${results.finishedAt}${
    plan.quick ? " (**--quick**: one short round, smoke only)" : ""
  }.${keptLine}
Reproduce everything below with one command: \`deno task bench\` (about 20 minutes on 2 cores; \`deno task bench --quick\` for a smoke run).

## Goals

${goalSection(results)}

### Performance (issue 12)

${performanceSection(results)}

CPU per request is one over the "requests per CPU-second" of the throughput ceiling (Redis's CPU counted for the Redis
limiter). Where a goal is not met, "Status of each goal" under Findings names the floor, from a profile.

"Added" is the target's latency minus direct-to-worker latency measured in the same round, then the median over
${plan.rounds} round(s). Throughput ratios are taken in the same run.

## Machine and versions

${machine}. Load average at start ${results.loadAverage.start}, at end ${results.loadAverage.end}: the machine is
shared with other work, so absolute numbers move between runs; compare ratios within one run.

${versions}

## Setup

- Core ${plan.loadCpus}: the load generators (wrk, vegeta, the stream client) and the mock worker. Core ${plan.targetCpus}: the proxy
  under test, and redis-server (so Nexus with the Redis limiter pays for Redis out of its one core). Only the
  target being measured is busy; the others idle. Everything on 127.0.0.1, every process at nice
  ${results.machine.niceness ?? "0"} so that other work on the machine disturbs the measurements less.
- Latency suite: the mock worker answers after a fixed ${plan.latencyWorker.ttftMs} ms (\`WORKER_TTFT_MS=${plan.latencyWorker.ttftMs}\`,
  \`WORKER_TOKEN_DELAY_MS=${plan.latencyWorker.tokenDelayMs}\`, ${plan.latencyWorker.maxTokens} tokens, not streamed).
- Throughput ceiling: the mock worker is a Deno process that needs a core of its own, so here every target forwards
  to an nginx that returns the worker's own answer (the same bytes) at once; wrk, ${plan.ceilingConnections} connections.
- Streaming suite: the worker streams ${plan.streamWorker.maxTokens} tokens, first after ${plan.streamWorker.ttftMs} ms, then one every
  ${plan.streamWorker.tokenDelayMs} ms; the stream client (bench/stream_client.ts) spreads the starts of a batch evenly over ${plan.streamRampMs} ms, so all
  streams are open together at the end of the ramp.
- Nexus runs as in production: \`deno run -A gateway/main.ts\`, auth on (\`X-API-Key\`), a rate limit per key
  (${"`GATEWAY_RATE_LIMIT_RPM`"} high enough never to refuse here), a canary routing policy for \`mock-worker\`
  (90/10 between two upstream names), the default log level (one JSON line per request to a file).
- The floors (bench/floor_targets.ts) read the body and check \`model\`, nothing else: \`Deno.serve\` answering alone
  and the bare pooled proxy (the gateway's HTTP/1.1 client over \`Deno.connect\`, the answer read whole) in the ceiling
  suite, and the bare Deno fetch proxy (\`fetch\` upstream, the answer streamed back) in every suite. Nexus minus
  these is what the gateway's features cost.
- nginx: one worker process, \`proxy_pass\` to an upstream block with \`keepalive 256\`, HTTP/1.1, buffering off.
- LiteLLM: \`litellm --config … --num_workers 1\`, one model \`openai/mock-worker\` with \`api_base\` at the worker,
  a master key (auth on).
- Rate limiter: ${plan.replicas} Nexus replicas share one redis-server; one key with a budget of ${plan.budget} per minute;
  ${plan.limitConcurrency} concurrent clients send ${plan.budget * 3} requests round-robin over the replicas.

## Exact commands

\`\`\`
${results.commands.join("\n")}
\`\`\`

## Latency

![latency against load](${options.chartPath})

${results.latency.length ? latencySection(results) : "Not run."}

## Throughput ceiling (wrk -c${plan.ceilingConnections}, closed loop, ${plan.ceilingSeconds} s per round)

${results.ceiling.length ? ceilingSection(results) : "Not run."}

## Streaming

TTFT is from sending the request to the first token; a gap is the time between two tokens as the client reads them.

${results.streaming.length ? streamingSection(results) : "Not run."}

## Rate limiter across replicas

${rateLimitSection(results)}

## Routing: one request to the right worker (issue 10)

${
    routingSection(results.routing, {
      chartPath: options.routingChartPath,
      seconds: plan.routingSeconds ?? 12,
      warmupSeconds: plan.routingWarmupSeconds ?? 0,
    })
  }

${options.findings.trim()}
${
    results.notes.length
      ? `\n## Problems during this run\n\n${results.notes.map((n) => `- ${n.replaceAll("\n", " ")}`).join("\n")}\n`
      : ""
  }`;
}
