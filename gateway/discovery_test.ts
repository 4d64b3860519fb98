/** gateway/discovery.ts against a fake API server that speaks EndpointSlice list and watch. */
import assert from "node:assert/strict";
import { parseEndpointUrl } from "./config.ts";
import { EndpointSliceDiscovery } from "./discovery.ts";
import type { EndpointSlice } from "./endpoint_slices.ts";
import { EndpointSet } from "./endpoint_set.ts";
import { KubeApi } from "./kube_api.ts";
import { Metrics } from "./metrics.ts";
import { eventually } from "../tests/support/eventually.ts";
import { metricValue } from "../tests/support/prometheus.ts";

const PATH = "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices";
const SELECTOR = "kubernetes.io/service-name=vllm";

function slice(name: string, pods: Array<[ip: string, ready: boolean]>): EndpointSlice {
  return {
    metadata: { name },
    addressType: "IPv4",
    endpoints: pods.map(([ip, ready]) => ({ addresses: [ip], conditions: { ready } })),
    ports: [{ name: "http", port: 8000, protocol: "TCP" }],
  };
}

/** A fake API server: one namespace's EndpointSlices, list and watch, with knobs to make it fail. */
class FakeApiServer {
  readonly slices = new Map<string, EndpointSlice>();
  readonly requests: Array<{ watch: boolean; token: string | null; version: string | null }> = [];
  version = 100;
  /** The oldest version a watch may start from; older ones get 410 Gone. */
  oldest = 0;
  /** Status to answer every request with, instead of serving it. */
  failWith: { status: number; message: string } | undefined;
  /** Watches get no answer at all (not even a head) until the client gives up. */
  stallWatches = false;
  /** Every event so far, which a watch from an older version replays first (as the real server does). */
  readonly #events: Array<{ version: number; line: string }> = [];
  #watchers = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(port = 0) {
    this.#server = Deno.serve({ port, hostname: "127.0.0.1", onListen: () => {} }, (request) => this.#handle(request));
  }

  get port(): number {
    return this.#server.addr.port;
  }

  /** Changes a slice and tells the watchers. */
  put(slice: EndpointSlice): void {
    const type = this.slices.has(slice.metadata.name) ? "MODIFIED" : "ADDED";
    this.slices.set(slice.metadata.name, slice);
    this.#send(type, { ...slice, metadata: { ...slice.metadata, resourceVersion: String(++this.version) } });
  }

  /** Deletes a slice and tells the watchers. */
  delete(name: string): void {
    const slice = this.slices.get(name)!;
    this.slices.delete(name);
    this.#send("DELETED", { ...slice, metadata: { ...slice.metadata, resourceVersion: String(++this.version) } });
  }

  /** Tells the watchers their version is too old (as after an etcd compaction). */
  expireWatches(): void {
    this.oldest = this.version; // a list now returns a version a watch may start from
    this.#send("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" });
  }

  async close(): Promise<void> {
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers.clear();
    await this.#server.shutdown();
  }

  #send(type: string, object: unknown): void {
    const line = JSON.stringify({ type, object }) + "\n";
    if (type !== "ERROR") this.#events.push({ version: this.version, line });
    for (const watcher of this.#watchers) watcher.enqueue(new TextEncoder().encode(line));
  }

  #handle(request: Request): Response | Promise<Response> {
    const url = new URL(request.url);
    const watch = url.searchParams.get("watch") === "1";
    this.requests.push({
      watch,
      token: request.headers.get("authorization"),
      version: url.searchParams.get("resourceVersion"),
    });
    if (this.failWith) {
      return Response.json({ kind: "Status", message: this.failWith.message }, { status: this.failWith.status });
    }
    if (url.pathname !== PATH || url.searchParams.get("labelSelector") !== SELECTOR) {
      return Response.json({ kind: "Status", message: `unexpected ${url.pathname}${url.search}` }, { status: 404 });
    }
    if (!watch) {
      return Response.json({
        kind: "EndpointSliceList",
        metadata: { resourceVersion: String(this.version) },
        items: [...this.slices.values()],
      });
    }
    if (this.stallWatches) {
      return new Promise((resolve) => request.signal.addEventListener("abort", () => resolve(new Response(null))));
    }
    if (Number(url.searchParams.get("resourceVersion")) < this.oldest) {
      return Response.json({ kind: "Status", code: 410, message: "too old resource version" }, { status: 410 });
    }
    const from = Number(url.searchParams.get("resourceVersion"));
    const missed = this.#events.filter((e) => e.version > from).map((e) => e.line).join("");
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        if (missed) c.enqueue(new TextEncoder().encode(missed));
        this.#watchers.add(c);
      },
      cancel: () => void this.#watchers.delete(controller),
    });
    request.signal.addEventListener("abort", () => this.#watchers.delete(controller));
    return new Response(body, { headers: { "content-type": "application/json" } });
  }
}

function setup(
  server: { port: number },
  options: { tokens?: string[]; silenceMs?: number; requestTimeoutMs?: number } = {},
) {
  const metrics = new Metrics();
  const configured = parseEndpointUrl("http://vllm:8000/openai", { upstream: "vllm", variable: "test" });
  const set = new EndpointSet("vllm", [configured], { breaker: { ejectAfterFailures: 5, ejectMs: 1_000 } });
  let tokenCount = 0;
  const messages: string[] = [];
  const api = new KubeApi({
    server: `http://127.0.0.1:${server.port}`,
    token: () => options.tokens?.[Math.min(tokenCount++, options.tokens.length - 1)] ?? "t0ken",
    namespace: "ns",
  });
  const discovery = new EndpointSliceDiscovery({
    api,
    set,
    target: { service: "vllm", port: "http" },
    baseUrl: configured.baseUrl,
    onError: (error) => {
      messages.push(error);
      metrics.discoveryErrors.labels("vllm").inc();
    },
    backoff: { initialMs: 20, maxMs: 100 },
    silenceMs: options.silenceMs,
    requestTimeoutMs: options.requestTimeoutMs,
  });
  const urls = () => set.endpoints.map((e) => e.baseUrl);
  const errors = async () => metricValue(await metrics.text(), "nexus_discovery_errors_total", { upstream: "vllm" });
  return { set, discovery, urls, errors, api, messages };
}

Deno.test("discovery lists the Service's ready endpoints, then follows scale-out, unready pods and scale-in", async () => {
  const server = new FakeApiServer();
  server.slices.set("vllm-a", slice("vllm-a", [["10.0.0.1", true], ["10.0.0.2", false]]));
  const { discovery, urls, set, api } = setup(server);
  try {
    assert.deepEqual(urls(), ["http://vllm:8000/openai"], "the configured URL until the first list");
    discovery.start();
    await discovery.synced;
    assert.deepEqual(urls(), ["http://10.0.0.1:8000/openai"], "only the ready pod, with the base path");
    const first = set.endpoints[0];
    server.put(slice("vllm-a", [["10.0.0.1", true], ["10.0.0.2", true]])); // the second pod becomes ready
    server.put(slice("vllm-b", [["10.0.0.3", true]])); // scale-out adds a slice
    await eventually(() =>
      assert.deepEqual(urls(), [
        "http://10.0.0.1:8000/openai",
        "http://10.0.0.2:8000/openai",
        "http://10.0.0.3:8000/openai",
      ])
    );
    assert.equal(set.endpoints[0], first, "an endpoint that stays keeps its state");
    server.put(slice("vllm-a", [["10.0.0.1", false], ["10.0.0.2", true]])); // a rolling update: pod 1 unready
    server.delete("vllm-b"); // scale-in
    await eventually(() => assert.deepEqual(urls(), ["http://10.0.0.2:8000/openai"]));
    assert.equal(first.listed, false);
  } finally {
    await discovery.stop();
    api.close();
    await server.close();
  }
});

Deno.test("an expired watch (410 Gone) makes discovery list again and carry on", async () => {
  const server = new FakeApiServer();
  server.slices.set("vllm-a", slice("vllm-a", [["10.0.0.1", true]]));
  const { discovery, urls, errors, api } = setup(server);
  try {
    discovery.start();
    await discovery.synced;
    await eventually(() => assert.ok(server.requests.some((r) => r.watch)));
    server.slices.set("vllm-a", slice("vllm-a", [["10.0.0.9", true]])); // changed while no event was sent
    server.expireWatches();
    await eventually(() => assert.deepEqual(urls(), ["http://10.0.0.9:8000/openai"]));
    assert.equal(server.requests.filter((r) => !r.watch).length, 2, "listed twice");
    assert.equal(await errors(), 0, "an expired watch is routine, not an error");
  } finally {
    await discovery.stop();
    api.close();
    await server.close();
  }
});

Deno.test("a lost API server keeps the last known endpoints, is counted, and discovery recovers", async () => {
  let server = new FakeApiServer();
  const port = server.port;
  server.slices.set("vllm-a", slice("vllm-a", [["10.0.0.1", true], ["10.0.0.2", true]]));
  const { discovery, urls, errors, api } = setup(server);
  try {
    discovery.start();
    await discovery.synced;
    await eventually(() => assert.ok(server.requests.some((r) => r.watch)));
    await server.close(); // the API server goes away
    await eventually(async () => assert.ok(await errors() >= 3, `errors: ${await errors()}`));
    assert.deepEqual(urls(), ["http://10.0.0.1:8000/openai", "http://10.0.0.2:8000/openai"], "last known kept");
    server = new FakeApiServer(port); // back, and a pod went away meanwhile
    server.slices.set("vllm-a", slice("vllm-a", [["10.0.0.2", true]]));
    server.oldest = 1_000; // its history is gone: the old watch version is refused, discovery lists again
    server.version = 1_000;
    await eventually(() => assert.deepEqual(urls(), ["http://10.0.0.2:8000/openai"]));
  } finally {
    await discovery.stop();
    api.close();
    await server.close();
  }
});

Deno.test("an API error is counted with its message and the configured endpoints stay until a list succeeds", async () => {
  const server = new FakeApiServer();
  server.failWith = {
    status: 403,
    message: 'endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:ns:gw" cannot list',
  };
  const { discovery, urls, errors, api } = setup(server, { tokens: ["first", "rotated"] });
  try {
    discovery.start();
    await eventually(async () => assert.ok(await errors() >= 2));
    assert.deepEqual(urls(), ["http://vllm:8000/openai"]);
    server.failWith = undefined;
    server.slices.set("vllm-a", slice("vllm-a", [["10.0.0.5", true]]));
    await discovery.synced;
    assert.deepEqual(urls(), ["http://10.0.0.5:8000/openai"]);
    assert.deepEqual(
      server.requests.slice(0, 2).map((r) => r.token),
      ["Bearer first", "Bearer rotated"],
      "token re-read per request",
    );
  } finally {
    await discovery.stop();
    api.close();
    await server.close();
  }
});

Deno.test("a Service without EndpointSlices keeps the configured URL", async () => {
  const server = new FakeApiServer();
  const { discovery, urls, api } = setup(server);
  try {
    discovery.start();
    await discovery.synced;
    assert.deepEqual(urls(), ["http://vllm:8000/openai"]);
  } finally {
    await discovery.stop();
    api.close();
    await server.close();
  }
});

Deno.test("a watch that sends nothing, not even a bookmark, is dropped as an error and started again", async () => {
  const server = new FakeApiServer();
  server.slices.set("vllm-a", slice("vllm-a", [["10.0.0.1", true]]));
  const { discovery, urls, api, messages } = setup(server, { silenceMs: 100 });
  try {
    discovery.start();
    await eventually(() => assert.ok(server.requests.filter((r) => r.watch).length >= 2));
    assert.equal(messages[0], "the watch sent nothing for 100 ms");
    assert.deepEqual(urls(), ["http://10.0.0.1:8000"].map((u) => `${u}/openai`));
  } finally {
    await discovery.stop();
    api.close();
    await server.close();
  }
});

Deno.test("an API server that takes connections and never answers a list is a counted failure after the request timeout", async () => {
  // As from a pod whose API server Service has no endpoints, or whose packets are dropped: nothing is refused.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const { discovery, urls, errors, api, messages } = setup(listener.addr, { requestTimeoutMs: 100 });
  try {
    discovery.start();
    await eventually(async () => assert.ok(await errors() >= 2, `errors: ${await errors()}`));
    assert.equal(messages[0], "the API server did not answer a list within 100 ms");
    assert.deepEqual(urls(), ["http://vllm:8000/openai"], "the configured URL stays");
  } finally {
    await discovery.stop();
    api.close();
    listener.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
  }
});

Deno.test("a watch whose head never comes is a counted failure after the request timeout, and the next watch carries on", async () => {
  const server = new FakeApiServer();
  server.slices.set("vllm-a", slice("vllm-a", [["10.0.0.1", true]]));
  server.stallWatches = true;
  const { discovery, urls, errors, api, messages } = setup(server, { requestTimeoutMs: 100 });
  try {
    discovery.start();
    await discovery.synced;
    await eventually(async () => assert.ok(await errors() >= 2, `errors: ${await errors()}`));
    assert.equal(messages[0], "the API server did not answer a watch within 100 ms");
    assert.deepEqual(urls(), ["http://10.0.0.1:8000/openai"], "the listed endpoints stay");
    server.stallWatches = false;
    server.put(slice("vllm-a", [["10.0.0.1", true], ["10.0.0.2", true]]));
    await eventually(() => assert.deepEqual(urls(), ["http://10.0.0.1:8000/openai", "http://10.0.0.2:8000/openai"]));
  } finally {
    await discovery.stop();
    api.close();
    await server.close();
  }
});
