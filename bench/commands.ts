/** The exact command lines a bench run uses, with ports and scratch paths as placeholders, for BENCHMARKS.md. */

import type { Plan } from "./plan.ts";
import { ROUTING_WORKERS, ROUTING_WORKLOADS, routingGatewayEnv, routingLoadCpus, workerEnv } from "./routing_suite.ts";
import { CEILING_ONLY, FLOOR_OF, litellmConfig, nexusEnv, type TargetName, tracingEnv } from "./targets.ts";

/** Lists every command and config of a run in the order the suites use them. */
export function benchCommands(plan: Plan): string[] {
  const load = `taskset -c ${plan.loadCpus}`;
  const proxy = `taskset -c ${plan.targetCpus}`;
  const env = (vars: Record<string, string>) => Object.entries(vars).map(([k, v]) => `${k}='${v}'`).join(" ");
  const worker = (t: Plan["latencyWorker"]) =>
    `${
      env({
        WORKER_HOST: "127.0.0.1",
        WORKER_PORT: "$WORKER_PORT",
        WORKER_TTFT_MS: String(t.ttftMs),
        WORKER_TOKEN_DELAY_MS: String(t.tokenDelayMs),
        WORKER_MAX_TOKENS: String(t.maxTokens),
        WORKER_MAX_NUM_SEQS: "100000",
        WORKER_DRAIN_DELAY_MS: "0",
      })
    } ${load} deno run -A worker/main.ts`;
  const nexus = env(nexusEnv({ port: 0, upstreamUrl: "http://127.0.0.1:$UPSTREAM_PORT" })).replace(
    "GATEWAY_PORT='0'",
    "GATEWAY_PORT='$PORT'",
  );
  return [
    "# backends",
    `${worker(plan.latencyWorker)}    # latency suite`,
    `${worker(plan.streamWorker)}    # streaming suite`,
    `${load} nginx -p $DIR -e $DIR/error.log -c $DIR/nginx.conf    # ceiling suite: returns the worker's answer at once`,
    `${proxy} redis-server --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no`,
    "# targets (each alone on its core)",
    `${nexus} ${proxy} deno run -A gateway/main.ts    # nexus-memory`,
    `${nexus} ${env(tracingEnv("http://127.0.0.1:$SINK_PORT"))} ${proxy} deno run -A gateway/main.ts    # nexus-traced`,
    `${load} nginx -p $DIR -e $DIR/error.log -c $DIR/nginx.conf    # nexus-traced's OTLP sink: return 200 ''`,
    `${nexus} REDIS_URL='redis://127.0.0.1:$REDIS_PORT' ${proxy} deno run -A gateway/main.ts    # nexus-redis`,
    ...Object.entries(FLOOR_OF).map(([name, floor]) =>
      `FLOOR=${floor} PORT=$PORT UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT ${proxy} deno run -A bench/floor_targets.ts    # ${name}${
        CEILING_ONLY.includes(name as TargetName) ? " (ceiling suite only)" : ""
      }`
    ),
    `${proxy} nginx -p $DIR -e $DIR/error.log -c $DIR/nginx.conf    # upstream { keepalive 256; } proxy_http_version 1.1; proxy_buffering off`,
    `LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR ${proxy} litellm --config litellm.yaml --host 127.0.0.1 --port $PORT --num_workers 1`,
    ...litellmConfig("http://127.0.0.1:$UPSTREAM_PORT").trimEnd().split("\n").map((l) => `#   litellm.yaml: ${l}`),
    "# load",
    `${load} wrk -t1 -c1 -d${plan.latencySeconds}s --timeout 10s -s post.lua $URL    # one connection`,
    ...plan.rates.map((rate) =>
      `${load} vegeta attack -targets=targets.txt -rate=${rate}/s -duration=${plan.latencySeconds}s -timeout=5s -max-workers=4000 -output=r.bin && vegeta encode -to json r.bin`
    ),
    `${load} wrk -t1 -c${plan.ceilingConnections} -d${plan.ceilingSeconds}s --timeout 10s -s post.lua $URL    # ceiling`,
    ...plan.streamCounts.map((n) =>
      `${load} deno run -A bench/stream_client.ts request.json ${n} $TIMEOUT_MS ${plan.streamRampMs}`
    ),
    ...routingCommands(plan, { proxy, env }),
    `redis-cli CONFIG RESETSTAT; (${
      plan.budget * 3
    } requests over ${plan.replicas} replicas, GATEWAY_RATE_LIMIT_RPM=${plan.budget}); redis-cli INFO commandstats`,
  ];
}

/** The routing suite's commands: its workers, the Service stand-in, the gateway per picker, the load client. */
function routingCommands(
  plan: Plan,
  ctx: { proxy: string; env: (vars: Record<string, string>) => string },
): string[] {
  const load = `taskset -c ${routingLoadCpus(plan)}`;
  const workload = ROUTING_WORKLOADS[0];
  const w = workload.worker;
  const workers = Array.from({ length: ROUTING_WORKERS }, (_, i) => `http://127.0.0.1:$W${i + 1}`);
  const worker = ctx.env({
    WORKER_HOST: "127.0.0.1",
    WORKER_PORT: "$W1",
    WORKER_TTFT_MS: String(w.ttftMs),
    WORKER_MAX_TOKENS: String(w.maxTokens),
    ...workerEnv(workload, 0),
    WORKER_DRAIN_DELAY_MS: "0",
  });
  const gateway = ctx.env({ ...nexusEnv({ port: 0, upstreamUrl: "" }), ...routingGatewayEnv("prefix", workers) })
    .replace("GATEWAY_PORT='0'", "GATEWAY_PORT='$PORT'")
    .replace("GATEWAY_PICKER='prefix'", "GATEWAY_PICKER=$PICKER");
  return [
    `# routing suite (${plan.routingWarmupSeconds} s warm-up + ${plan.routingSeconds} s measured per run; fresh workers each run)`,
    `${worker} ${load} deno run -A worker/main.ts    # x${ROUTING_WORKERS}; slow-worker: the first with WORKER_TOKEN_DELAY_MS=${
      ROUTING_WORKLOADS.find((l) => l.slowTokenDelayMs)?.slowTokenDelayMs
    }`,
    `${gateway} ${ctx.proxy} deno run -A gateway/main.ts    # PICKER: round_robin, least_request, load, prefix`,
    `${load} deno run -A bench/tcp_balancer.ts $PORT ${
      workers.map((u) => u.slice(7)).join(" ")
    }    # one Service URL: GATEWAY_UPSTREAMS='mock=http://127.0.0.1:$PORT'`,
    `${load} deno run -A bench/routing_client.ts load.json    # open loop; load.json: rate, warmupSeconds, seconds, seed, tenants, words`,
  ];
}
