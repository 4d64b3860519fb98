/** gateway/upstream_endpoints.ts: discovery and load scraping wired to the endpoint sets, the metrics and the debug view. */
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "./config.ts";
import { KubeApi } from "./kube_api.ts";
import { Metrics } from "./metrics.ts";
import { UpstreamEndpoints } from "./upstream_endpoints.ts";
import { eventually } from "../tests/support/eventually.ts";
import { freePort } from "../tests/support/process.ts";
import { metricValue } from "../tests/support/prometheus.ts";

/** An API server that lists one EndpointSlice (two ready pods, one not) and then holds its watches open. */
function fakeApiServer(options: { status?: number } = {}) {
  const watches = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (request) => {
    if (options.status) return Response.json({ message: "forbidden" }, { status: options.status });
    if (new URL(request.url).searchParams.get("watch") === "1") {
      return new Response(new ReadableStream({ start: (c) => void watches.add(c) }));
    }
    return Response.json({
      metadata: { resourceVersion: "7" },
      items: [{
        metadata: { name: "vllm-abc" },
        endpoints: [
          { addresses: ["10.0.0.2"], conditions: { ready: true } },
          { addresses: ["10.0.0.1"], conditions: { ready: true } },
          { addresses: ["10.0.0.3"], conditions: { ready: false } },
        ],
        ports: [{ name: "http", port: 8000 }],
      }],
    });
  });
  const api = () => new KubeApi({ server: `http://127.0.0.1:${server.addr.port}`, token: () => "t", namespace: "ns" });
  const close = async () => {
    for (const watch of watches) watch.close();
    await server.shutdown();
  };
  return { api, close };
}

const ENV = {
  GATEWAY_AUTH: "off",
  GATEWAY_UPSTREAMS: "vllm=http://vllm.ns:8000/base",
  GATEWAY_DISCOVERY: "vllm=vllm:http",
};

Deno.test("discovered pods replace the Service URL, keep its base path, and show in the gauge and the debug view", async () => {
  const api = fakeApiServer();
  const metrics = new Metrics();
  const upstreams = new UpstreamEndpoints(loadConfig(ENV), { metrics, kubeApi: api.api });
  upstreams.target("vllm", undefined);
  upstreams.start();
  try {
    await upstreams.synced();
    assert.deepEqual(upstreams.set("vllm")!.endpoints.map((e) => [e.baseUrl, e.metricsUrl]), [
      ["http://10.0.0.1:8000/base", "http://10.0.0.1:8000/metrics"],
      ["http://10.0.0.2:8000/base", "http://10.0.0.2:8000/metrics"],
    ]);
    const text = await metrics.text();
    assert.equal(metricValue(text, "nexus_upstream_endpoints", { upstream: "vllm", state: "ready" }), 2);
    assert.equal(metricValue(text, "nexus_upstream_endpoints", { upstream: "vllm", state: "ejected" }), 0);
    const debug = upstreams.describe().vllm;
    assert.deepEqual([debug.pickers, debug.discovery, debug.ready, debug.ejected], [
      ["least_request"],
      "vllm:http",
      2,
      0,
    ]);
  } finally {
    await upstreams.stop();
    await api.close();
  }
});

Deno.test("an API server that refuses is counted in nexus_discovery_errors_total and the configured URL stays", async () => {
  const api = fakeApiServer({ status: 403 });
  const metrics = new Metrics();
  const upstreams = new UpstreamEndpoints(loadConfig(ENV), { metrics, kubeApi: api.api });
  upstreams.start();
  try {
    await eventually(async () =>
      assert.ok(metricValue(await metrics.text(), "nexus_discovery_errors_total", { upstream: "vllm" }) >= 1)
    );
    assert.deepEqual(upstreams.set("vllm")!.endpoints.map((e) => e.baseUrl), ["http://vllm.ns:8000/base"]);
  } finally {
    await upstreams.stop();
    await api.close();
  }
});

Deno.test("GATEWAY_DISCOVERY outside a Kubernetes pod stops the gateway at startup, naming the variable", () => {
  const previous = Deno.env.get("KUBERNETES_SERVICE_HOST");
  Deno.env.delete("KUBERNETES_SERVICE_HOST");
  try {
    assert.throws(
      () => new UpstreamEndpoints(loadConfig(ENV), { metrics: new Metrics() }),
      (error: unknown) => error instanceof ConfigError && error.variable === "GATEWAY_DISCOVERY",
    );
  } finally {
    if (previous !== undefined) Deno.env.set("KUBERNETES_SERVICE_HOST", previous);
  }
});

Deno.test("only pickers that read load get their endpoints scraped; failed scrapes are counted per upstream", async () => {
  const dead = `http://127.0.0.1:${freePort()}`;
  const env = { GATEWAY_AUTH: "off", GATEWAY_UPSTREAMS: `a=${dead};b=${dead}`, GATEWAY_LOAD_SCRAPE_MS: "20" };
  const metrics = new Metrics();
  const upstreams = new UpstreamEndpoints(loadConfig(env), { metrics });
  upstreams.target("a", "prefix");
  upstreams.target("b", "round_robin");
  upstreams.start();
  try {
    await eventually(async () =>
      assert.ok(metricValue(await metrics.text(), "nexus_load_scrape_errors_total", { upstream: "a" }) >= 1)
    );
    assert.equal(metricValue(await metrics.text(), "nexus_load_scrape_errors_total", { upstream: "b" }), 0);
    assert.deepEqual(upstreams.describe().a.pickers, ["prefix"]);
  } finally {
    await upstreams.stop();
  }
});
