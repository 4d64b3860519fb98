/** The mock worker's Prometheus metrics, under vLLM's names so tools built for vLLM work against it. */

import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Why a request ended, as vLLM's `finished_reason` label spells it. */
export type FinishReason = "stop" | "length" | "abort";

/** The worker's metrics, bound to its model_name label once so the hot path does no label lookups. */
export interface WorkerMetrics {
  /** The registry that /metrics exposes. */
  registry: Registry;
  /** Requests generating now (vllm:num_requests_running). */
  running: { inc(): void; dec(): void };
  /** Requests queued behind WORKER_MAX_NUM_SEQS (vllm:num_requests_waiting). */
  waiting: { inc(): void; dec(): void };
  /** Counts a finished request by reason (vllm:request_success_total). */
  finished(reason: FinishReason): void;
  /** Records time to first token in seconds. */
  timeToFirstToken(seconds: number): void;
  /** Records a finished request's end-to-end latency in seconds. */
  requestLatency(seconds: number): void;
  /** Counts prompt and generated tokens of a request. */
  tokens(prompt: number, generated: number): void;
  /** Sets the KV-cache use, 0..1 (vllm:kv_cache_usage_perc). */
  kvUsage(fraction: number): void;
  /** Counts one prefix-cache lookup: prompt tokens queried and how many were cached. */
  prefixCache(queried: number, hits: number): void;
}

// Bucket bounds as vLLM uses them, so dashboards built for vLLM read the same.
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960];

/** Creates a fresh registry with the worker's metrics for one model name. */
export function createMetrics(model: string): WorkerMetrics {
  const registry = new Registry();
  const labels = { model_name: model };
  const registers = [registry];
  const labelNames = ["model_name"];
  const gauge = (name: string, help: string) => {
    const child = new Gauge({ name, help, labelNames, registers }).labels(labels);
    child.set(0);
    return child;
  };
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers }).labels(labels);
  const histogram = (name: string, help: string, buckets: number[]) =>
    new Histogram({ name, help, labelNames, buckets, registers }).labels(labels);

  const running = gauge("vllm:num_requests_running", "Number of requests currently generating.");
  const waiting = gauge("vllm:num_requests_waiting", "Number of requests waiting for a generation slot.");
  const success = new Counter({
    name: "vllm:request_success_total",
    help: "Count of finished requests by finished_reason.",
    labelNames: ["model_name", "finished_reason"],
    registers,
  });
  const byReason = {
    stop: success.labels({ ...labels, finished_reason: "stop" }),
    length: success.labels({ ...labels, finished_reason: "length" }),
    abort: success.labels({ ...labels, finished_reason: "abort" }),
  };
  for (const child of Object.values(byReason)) child.inc(0);
  const ttft = histogram("vllm:time_to_first_token_seconds", "Time to first token in seconds.", TTFT_BUCKETS);
  const e2e = histogram("vllm:e2e_request_latency_seconds", "End-to-end request latency in seconds.", E2E_BUCKETS);
  const promptTokens = counter("vllm:prompt_tokens_total", "Number of prefill (prompt) tokens processed.");
  const generationTokens = counter("vllm:generation_tokens_total", "Number of generation tokens processed.");
  const kvUsage = gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.");
  const prefixQueries = counter(
    "vllm:prefix_cache_queries_total",
    "Prefix cache queries, in terms of number of queried tokens.",
  );
  const prefixHits = counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.");
  prefixQueries.inc(0);
  prefixHits.inc(0);

  return {
    registry,
    running,
    waiting,
    finished: (reason) => byReason[reason].inc(),
    timeToFirstToken: (seconds) => ttft.observe(seconds),
    requestLatency: (seconds) => e2e.observe(seconds),
    tokens: (prompt, generated) => {
      promptTokens.inc(prompt);
      generationTokens.inc(generated);
    },
    kvUsage: (fraction) => kvUsage.set(fraction),
    prefixCache: (queried, hits) => {
      prefixQueries.inc(queried);
      prefixHits.inc(hits);
    },
  };
}
