/**
 * What a traced request costs with each way of tracing the gateway could use: process CPU per chat completion through
 * `gateway.handle` (bench/in_process.ts), every request sampled (unless said), spans exported as OTLP/HTTP every 200 ms to a sink in
 * this (coordinating) process. Each variant runs in a process of its own, three interleaved rounds, median:
 * - off: no subscriber (the default);
 * - sdk-protobuf, sdk-json: gateway/tracing.ts, the OpenTelemetry JS SDK with its OTLP exporters (what Nexus ships);
 * - sdk-protobuf-10%: the same, one trace in ten sampled (OTEL_TRACES_SAMPLER_ARG=0.1);
 * - deno-builtin: the same RequestSpans subscriber on the tracer of Deno's built-in OpenTelemetry (OTEL_DENO=true,
 *   exporting from its own threads, which the process CPU includes). In a real server it would add a span of its own
 *   for every Deno.serve request on top (not counted here).
 * Writes bench/results/tracing.md. Usage: deno run -A bench/tracing_comparison.ts
 */
import process from "node:process";
import { trace } from "@opentelemetry/api";
import { loadConfig } from "../gateway/config.ts";
import { setLogLevel } from "../gateway/log.ts";
import type { LifecycleSubscriber } from "../gateway/request_lifecycle.ts";
import { RequestSpans } from "../gateway/request_spans.ts";
import { createGateway } from "../gateway/server.ts";
import { startTracing, TRACER_NAME } from "../gateway/tracing.ts";
import { benchEnv, callGateway, chatBody, memoryUpstream, startOtlpSink } from "./in_process.ts";
import { median } from "./stats.ts";

const VARIANTS = ["off", "sdk-protobuf", "sdk-json", "sdk-protobuf-10%", "deno-builtin"] as const;
type Variant = typeof VARIANTS[number];
const ROUNDS = 3;
const WARM_UP = 2_000;
const REQUESTS = 20_000;
const repoRoot = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** One variant in this process: CPU microseconds per request over REQUESTS requests, after a warm-up. */
async function measure(variant: Variant): Promise<number> {
  setLogLevel("warn");
  const env = { ...benchEnv, ...Deno.env.toObject() };
  let subscribers: LifecycleSubscriber[] = [];
  let flush = () => Promise.resolve();
  if (variant.startsWith("sdk-")) {
    const tracing = startTracing(loadConfig(env).tracing!);
    subscribers = [tracing.subscriber];
    flush = tracing.shutdown;
  } else if (variant === "deno-builtin") {
    subscribers = [new RequestSpans(trace.getTracer(TRACER_NAME))];
  }
  // The gateway's config must not turn traces on by itself: only the variant's subscriber traces.
  const gateway = createGateway(loadConfig(benchEnv), { client: memoryUpstream, subscribers });
  const run = async (requests: number) => {
    for (let i = 0; i < requests; i++) {
      await callGateway(gateway, { body: chatBody });
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 0)); // let timers and exports run
    }
  };
  await run(WARM_UP);
  const before = process.cpuUsage();
  await run(REQUESTS);
  await flush();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / REQUESTS;
}

const variant = Deno.env.get("TRACING_VARIANT") as Variant | undefined;
if (variant !== undefined) {
  console.log(JSON.stringify({ cpuUs: await measure(variant) }));
  Deno.exit(0);
}

const sink = startOtlpSink();
const environments: Record<Variant, Record<string, string>> = {
  off: {},
  "sdk-protobuf": { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" },
  "sdk-json": { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" },
  "sdk-protobuf-10%": {
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
    OTEL_TRACES_SAMPLER_ARG: "0.1",
  },
  "deno-builtin": {
    OTEL_DENO: "true",
    OTEL_DENO_METRICS: "false",
    OTEL_DENO_CONSOLE: "ignore",
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
  },
};
const results = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const v of VARIANTS) {
      console.error(`round ${round}/${ROUNDS}: ${v}`);
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", import.meta.filename!],
        cwd: repoRoot,
        env: { TRACING_VARIANT: v, OTEL_BSP_SCHEDULE_DELAY: "200", ...environments[v] },
        stderr: "inherit",
      }).output();
      if (!output.success) throw new Error(`${v} failed (exit ${output.code})`);
      const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
      results.get(v)!.push(JSON.parse(lines.at(-1)!).cpuUs);
    }
  }
} finally {
  await sink.shutdown();
}
const off = median(results.get("off")!);
const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
const lines = [
  "| tracing | process CPU µs per chat completion (median) | added by tracing |",
  "| --- | ---: | ---: |",
  ...VARIANTS.map((v) => {
    const us = median(results.get(v)!);
    return `| ${v} | ${us.toFixed(1)} | ${v === "off" ? "–" : `+${(us - off).toFixed(1)}`} |`;
  }),
  "",
  `\`gateway.handle\` in process, ${REQUESTS} requests after ${WARM_UP} of warm-up, every request sampled except in sdk-protobuf-10%, export ` +
  `every 200 ms; ${ROUNDS} interleaved rounds; load average ${load} at the end (shared machine).`,
];
console.log(lines.join("\n"));
await Deno.writeTextFile(`${repoRoot}/bench/results/tracing.md`, lines.join("\n") + "\n");
