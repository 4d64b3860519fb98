/** The Grafana dashboard the chart ships (files/dashboard.json): the gateway's nexus_* and the workers' vllm:* metrics. */

interface Panel {
  title: string;
  unit: string;
  exprs: Array<[expr: string, legend: string]>;
}

const panels: Panel[] = [
  {
    title: "Gateway requests per second by status",
    unit: "reqps",
    exprs: [["sum by (status) (rate(nexus_requests_total[5m]))", "{{status}}"]],
  },
  {
    title: "Gateway requests per second by upstream",
    unit: "reqps",
    exprs: [["sum by (upstream) (rate(nexus_requests_total[5m]))", "{{upstream}}"]],
  },
  {
    title: "Request latency p50 / p95",
    unit: "s",
    exprs: [
      ["histogram_quantile(0.5, sum by (le) (rate(nexus_request_duration_seconds_bucket[5m])))", "p50"],
      ["histogram_quantile(0.95, sum by (le) (rate(nexus_request_duration_seconds_bucket[5m])))", "p95"],
    ],
  },
  {
    title: "Time to first token p95 (gateway and vLLM)",
    unit: "s",
    exprs: [
      ["histogram_quantile(0.95, sum by (le) (rate(nexus_time_to_first_token_seconds_bucket[5m])))", "gateway"],
      ["histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket[5m])))", "vllm"],
    ],
  },
  {
    title: "Rate-limited, upstream errors and retries per second",
    unit: "reqps",
    exprs: [
      ["sum(rate(nexus_rate_limited_total[5m]))", "rate limited"],
      ["sum by (upstream) (rate(nexus_upstream_errors_total[5m]))", "errors {{upstream}}"],
      ["sum by (upstream) (rate(nexus_retries_total[5m]))", "retries {{upstream}}"],
    ],
  },
  {
    title: "In-flight requests and Redis errors",
    unit: "short",
    exprs: [
      ["sum(nexus_in_flight_requests)", "in flight"],
      ["sum(rate(nexus_redis_errors_total[5m]))", "redis errors/s"],
    ],
  },
  {
    title: "Tokens per second",
    unit: "short",
    exprs: [["sum by (type) (rate(nexus_tokens_total[5m]))", "{{type}}"]],
  },
  {
    title: "vLLM requests running / waiting",
    unit: "short",
    exprs: [
      ["sum by (pod) (vllm:num_requests_running)", "running {{pod}}"],
      ["sum by (pod) (vllm:num_requests_waiting)", "waiting {{pod}}"],
    ],
  },
  {
    title: "vLLM finished requests by reason",
    unit: "reqps",
    exprs: [["sum by (finished_reason) (rate(vllm:request_success_total[5m]))", "{{finished_reason}}"]],
  },
];

/** The dashboard JSON model. */
export function dashboard(): Record<string, unknown> {
  return {
    title: "Nexus gateway and workers",
    uid: "nexus-overview",
    schemaVersion: 39,
    tags: ["nexus", "llm"],
    time: { from: "now-1h", to: "now" },
    refresh: "30s",
    templating: {
      list: [{ name: "datasource", type: "datasource", query: "prometheus", label: "Data source" }],
    },
    panels: panels.map((panel, i) => ({
      id: i + 1,
      type: "timeseries",
      title: panel.title,
      datasource: { type: "prometheus", uid: "${datasource}" },
      gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
      fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
      targets: panel.exprs.map(([expr, legendFormat], j) => ({
        refId: String.fromCharCode(65 + j),
        expr,
        legendFormat,
      })),
    })),
  };
}
