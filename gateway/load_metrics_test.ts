import assert from "node:assert/strict";
import fc from "fast-check";
import { LOAD_METRICS_QUERY, parseLoad, samples } from "./load_metrics.ts";

const VLLM = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B"} 7.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B"} 3.0
vllm:num_requests_waiting_by_reason{engine="0",reason="capacity"} 99
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B"} 0.4125
`;

Deno.test("vLLM's queue, running count and KV use are read from its /metrics text", () => {
  assert.deepEqual(parseLoad(VLLM), { backend: "vllm", waiting: 3, running: 7, kvUsage: 0.4125 });
});

Deno.test("SGLang's names are read as well, and vLLM V0's gpu_cache_usage_perc stands in for KV use", () => {
  const sglang = 'sglang:num_running_reqs{model_name="q"} 12\nsglang:num_queue_reqs{model_name="q"} 0\n' +
    'sglang:token_usage{model_name="q"} 0.9\n';
  assert.deepEqual(parseLoad(sglang), { backend: "sglang", waiting: 0, running: 12, kvUsage: 0.9 });
  const v0 = "vllm:num_requests_running 1\nvllm:gpu_cache_usage_perc 0.25\n";
  assert.deepEqual(parseLoad(v0), { backend: "vllm", waiting: 0, running: 1, kvUsage: 0.25 });
});

Deno.test("parsing is tolerant: label values with braces and quotes, timestamps, CRLF, NaN and Inf skipped", () => {
  const text = [
    'vllm:num_requests_waiting{path="/a}b",note="say \\"hi\\" {x}"} 2 1712345678000',
    'vllm:num_requests_waiting{engine="1"} NaN',
    'vllm:num_requests_waiting{engine="2"} +Inf',
    'vllm:num_requests_waiting{engine="3"}\t1e1\r',
    "vllm:num_requests_running 4\r",
    'vllm:num_requests_running{broken="unterminated} 100',
    'vllm:kv_cache_usage_perc{engine="0"} 0.5',
    'vllm:kv_cache_usage_perc{engine="1"} 1.7',
    "",
  ].join("\n");
  assert.deepEqual(parseLoad(text), { backend: "vllm", waiting: 12, running: 4, kvUsage: 1 });
});

Deno.test("several engines (data parallel) are summed, KV use is averaged", () => {
  const text = 'vllm:num_requests_running{engine="0"} 3\nvllm:num_requests_running{engine="1"} 5\n' +
    'vllm:kv_cache_usage_perc{engine="0"} 0.2\nvllm:kv_cache_usage_perc{engine="1"} 0.6\n';
  const load = parseLoad(text)!;
  assert.equal(load.running, 8);
  assert.ok(Math.abs(load.kvUsage - 0.4) < 1e-9);
});

Deno.test("a text without any known load metric gives no load", () => {
  assert.equal(parseLoad(""), undefined);
  assert.equal(parseLoad("# HELP vllm:num_requests_running x\nprocess_cpu_seconds_total 3\n"), undefined);
  assert.equal(parseLoad("<html>not found</html>"), undefined);
});

Deno.test("any set of samples with any labels is summed back exactly", () => {
  const label = fc.tuple(fc.stringMatching(/^[a-z_]{1,8}$/), fc.string({ maxLength: 12 }));
  const sample = fc.record({ labels: fc.array(label, { maxLength: 3 }), value: fc.integer({ min: 0, max: 10_000 }) });
  fc.assert(fc.property(fc.array(sample, { maxLength: 6 }), (series) => {
    const lines = series.map(({ labels, value }) => {
      const set = labels.map(([k, v]) =>
        `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`
      );
      return `vllm:num_requests_waiting${set.length ? `{${set.join(",")}}` : ""} ${value}`;
    });
    const text = ["# TYPE vllm:num_requests_waiting gauge", ...lines, "other_metric 5"].join("\n");
    const found = samples(text, "vllm:num_requests_waiting");
    assert.equal(found.count, series.length);
    assert.equal(found.sum, series.reduce((sum, s) => sum + s.value, 0));
  }));
});

Deno.test("the scrape asks prometheus_client for only the load metrics", () => {
  const params = new URLSearchParams(LOAD_METRICS_QUERY).getAll("name[]");
  assert.deepEqual(params, [
    "vllm:num_requests_waiting",
    "vllm:num_requests_running",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "sglang:num_queue_reqs",
    "sglang:num_running_reqs",
    "sglang:token_usage",
  ]);
});
