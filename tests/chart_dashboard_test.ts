/**
 * The Grafana dashboard the chart renders charts only metrics and labels that a running gateway and mock worker
 * really export on /metrics, so the dashboard cannot drift from gateway/metrics.ts and worker/metrics.ts.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { type Manifest, ofKind, rendered } from "./support/chart.ts";
import { startGateway, startWorker } from "./support/process.ts";

/** Labels Prometheus adds to every scraped series (target labels), not the exporters. */
const TARGET_LABELS = new Set(["pod", "namespace", "service", "instance", "job", "container", "endpoint"]);
/** PromQL words that look like identifiers. */
const PROMQL_WORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"]);

/** One query of the dashboard: the metrics it reads and the labels it groups or labels legends by. */
interface Query {
  expr: string;
  metrics: string[];
  labels: string[];
}

/** Metric names and grouping labels of a PromQL expression and its legend. */
function parseQuery(expr: string, legend: string): Query {
  const labels = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)]
    .flatMap((m) => m[1].split(",").map((l) => l.trim()).filter(Boolean));
  labels.push(...[...legend.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)].map((m) => m[1]));
  const stripped = expr.replace(/\b(?:by|without)\s*\([^)]*\)/g, " ").replace(/\[[^\]]*\]/g, " ")
    .replace(/\{[^}]*\}/g, " ");
  const metrics = [...stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?/g)]
    .filter((m) => !m[2] && !PROMQL_WORDS.has(m[1]))
    .map((m) => m[1]);
  return { expr, metrics, labels: [...new Set(labels)] };
}

/** The dashboard's queries, from the ConfigMap the chart renders. */
async function dashboardQueries(): Promise<Query[]> {
  const { objects } = await rendered({ values: { grafanaDashboard: { enabled: true } } });
  const configMap = ofKind(objects, "ConfigMap").find((c) => c.metadata.labels.grafana_dashboard === "1");
  assert.ok(configMap, "the dashboard ConfigMap is rendered");
  const json = JSON.parse(configMap.data["nexus.json"]);
  return json.panels.flatMap((panel: Manifest) =>
    panel.targets.map((target: Manifest) => parseQuery(target.expr, target.legendFormat ?? ""))
  );
}

/** A scrape: metric family name to its type, and series name to the label names seen on its samples. */
interface Exposition {
  types: Map<string, string>;
  labels: Map<string, Set<string>>;
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const type = line.match(/^# TYPE (\S+) (\S+)$/);
    if (type) types.set(type[1], type[2]);
    const sample = line.match(/^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? /);
    if (!sample || line.startsWith("#")) continue;
    const names = [...(sample[2] ?? "").matchAll(/([A-Za-z_][A-Za-z0-9_]*)="/g)].map((m) => m[1]);
    const seen = labels.get(sample[1]) ?? new Set();
    names.forEach((n) => seen.add(n));
    labels.set(sample[1], seen);
  }
  return { types, labels };
}

/** Whether `name` is a series of an exported family (histogram series carry _bucket, _sum, _count). */
function exported(scrape: Exposition, name: string): boolean {
  if (scrape.types.has(name)) return true;
  const histogram = name.match(/^(.*)_(bucket|sum|count)$/);
  return histogram !== null && ["histogram", "summary"].includes(scrape.types.get(histogram[1]) ?? "");
}

Deno.test("every metric and label the Grafana dashboard charts is exported by the gateway or the worker", async () => {
  const queries = await dashboardQueries();
  await using worker = await startWorker({ WORKER_TOKEN_DELAY_MS: "1", WORKER_MAX_TOKENS: "4", WORKER_TTFT_MS: "1" });
  const key = "sk-dashboard-test-key";
  // "dead" (port 1, where nothing listens) refuses connections: the fallback records an upstream error and a retry.
  await using gateway = await startGateway({
    GATEWAY_UPSTREAMS: `dead=http://127.0.0.1:1;mock=${worker.url}`,
    GATEWAY_DEFAULT_UPSTREAM: "mock",
    GATEWAY_ROUTE_POLICIES: JSON.stringify({ "mock-worker": { strategy: "fallback", upstreams: ["dead", "mock"] } }),
    GATEWAY_API_KEYS: key,
  });
  const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  const messages = [{ role: "user" as const, content: "hello" }];
  await client.chat.completions.create({ model: "mock-worker", messages });
  const stream = await client.chat.completions.create({ model: "mock-worker", messages, stream: true });
  for await (const _ of stream) { /* drain */ }

  const scrapes = await Promise.all(
    [gateway.metricsUrl, worker.url].map(async (url) => parseExposition(await (await fetch(`${url}/metrics`)).text())),
  );
  let checked = 0;
  for (const query of queries) {
    assert.ok(query.metrics.length > 0, `no metric found in ${query.expr}`);
    for (const metric of query.metrics) {
      const scrape = scrapes.find((s) => exported(s, metric));
      assert.ok(scrape, `${query.expr}: ${metric} is not on the gateway's or the worker's /metrics`);
      for (const label of query.labels) {
        if (TARGET_LABELS.has(label) || (label === "le" && metric.endsWith("_bucket"))) continue;
        const seen = scrape.labels.get(metric);
        assert.ok(seen, `${query.expr}: no samples of ${metric} to check label ${label} on`);
        assert.ok(seen.has(label), `${query.expr}: ${metric} has no label ${label} (it has ${[...seen].join(", ")})`);
      }
      checked++;
    }
  }
  const charted = queries.flatMap((q) => q.metrics);
  assert.ok(charted.some((m) => m.startsWith("nexus_")) && charted.some((m) => m.startsWith("vllm:")));
  assert.ok(checked >= 10, `checked ${checked} metric references`);
});

Deno.test("the dashboard query parser finds metric names and grouping labels", () => {
  assert.deepEqual(
    parseQuery('histogram_quantile(0.95, sum by (le, model) (rate(vllm:e2e_x_bucket{a="b"}[5m])))', "{{model}}"),
    {
      expr: 'histogram_quantile(0.95, sum by (le, model) (rate(vllm:e2e_x_bucket{a="b"}[5m])))',
      metrics: ["vllm:e2e_x_bucket"],
      labels: ["le", "model"],
    },
  );
  assert.deepEqual(parseQuery("sum(nexus_in_flight_requests)", "in flight").metrics, ["nexus_in_flight_requests"]);
});
