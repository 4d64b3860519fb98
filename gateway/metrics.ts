/** The gateway's Prometheus metrics (`nexus_*`), on their own registry. */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const OVERHEAD_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];
/** Distinct model label values kept before new ones are folded into `other`. */
const MAX_MODEL_LABELS = 100;

/** How many endpoints of an upstream can take requests and how many are ejected. */
export interface EndpointCounts {
  upstream: string;
  ready: number;
  ejected: number;
}

/** All gateway metrics plus the registry that exposes them. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "nexus_requests_total",
    help: "Requests answered, by model, upstream (empty when none) and HTTP status.",
    labelNames: ["model", "upstream", "status"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: "nexus_request_duration_seconds",
    help: "Time from request arrival to the last byte sent (streams included), by model and upstream.",
    labelNames: ["model", "upstream"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly ttft = new Histogram({
    name: "nexus_time_to_first_token_seconds",
    help: "Streams: time from request arrival to the first body chunk from the upstream.",
    labelNames: ["model", "upstream"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: "nexus_tokens_total",
    help: "Tokens reported in upstream `usage`, by model, upstream and type (prompt|completion).",
    labelNames: ["model", "upstream", "type"] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: "nexus_rate_limited_total",
    help: "Requests refused with 429, by key name and the budget that refused (requests|tokens|tokens_per_day).",
    labelNames: ["key", "limit"] as const,
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: "nexus_upstream_errors_total",
    help: "Failed upstream attempts, by upstream and kind (connect|status|timeout|broken: an answer that broke off).",
    labelNames: ["upstream", "kind"] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: "nexus_retries_total",
    help:
      "Requests retried on another endpoint of the same upstream or on another upstream, by the upstream retried on.",
    labelNames: ["upstream"] as const,
    registers: [this.registry],
  });
  readonly ejections = new Counter({
    name: "nexus_upstream_ejections_total",
    help: "Times an endpoint of an upstream was taken out of rotation after repeated failures, by upstream.",
    labelNames: ["upstream"] as const,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: "nexus_in_flight_requests",
    help: "Requests being processed, streams included.",
    registers: [this.registry],
  });
  readonly redisErrors = new Counter({
    name: "nexus_redis_errors_total",
    help: "Redis failures: failed or timed-out limiter calls and connection errors.",
    registers: [this.registry],
  });
  readonly connectionWaits = new Counter({
    name: "nexus_upstream_connection_waits_total",
    help:
      "Requests that waited for a connection: their upstream origin (host:port) had GATEWAY_UPSTREAM_MAX_CONNECTIONS open.",
    labelNames: ["origin"] as const,
    registers: [this.registry],
  });
  readonly connectionsWaiting = new Gauge({
    name: "nexus_upstream_connections_waiting",
    help: "Requests waiting now for a connection to an upstream origin (host:port).",
    labelNames: ["origin"] as const,
    registers: [this.registry],
  });
  readonly overhead = new Histogram({
    name: "nexus_gateway_overhead_seconds",
    help: "Gateway's own time before the upstream request is sent (auth, body, rate limit, routing).",
    buckets: OVERHEAD_BUCKETS,
    registers: [this.registry],
  });
  /** Each upstream's endpoint counts by state, read when /metrics is scraped (the gateway sets it at startup). */
  endpointCounts: (() => Iterable<EndpointCounts>) | undefined;
  readonly upstreamEndpoints = new Gauge({
    name: "nexus_upstream_endpoints",
    help: "Endpoints of each upstream, by state (ready|ejected): configured or discovered in Kubernetes.",
    labelNames: ["upstream", "state"] as const,
    registers: [this.registry],
    collect: () => this.#collectEndpoints(),
  });
  readonly discoveryErrors = new Counter({
    name: "nexus_discovery_errors_total",
    help: "Failed Kubernetes EndpointSlice lists or watches, by upstream; the last known endpoints stay in use.",
    labelNames: ["upstream"] as const,
    registers: [this.registry],
  });
  readonly loadScrapeErrors = new Counter({
    name: "nexus_load_scrape_errors_total",
    help: "Failed /metrics scrapes of endpoints for the load and prefix pickers, by upstream.",
    labelNames: ["upstream"] as const,
    registers: [this.registry],
  });

  readonly #models = new Set<string>();

  /**
   * The model label for a requested model: itself once admitted (while fewer than 100 distinct ones were, else
   * `other`). Only models that reached an upstream that knows them are admitted (`admit`); a model that was never
   * admitted gets the empty label, so typos cannot take the places of real models.
   */
  modelLabel(model: string, admit = true): string {
    if (this.#models.has(model)) return model;
    if (!admit) return "";
    if (this.#models.size >= MAX_MODEL_LABELS) return "other";
    this.#models.add(model);
    return model;
  }

  /** Counts a request that starts (`waiting`) or stops waiting for a connection to an upstream origin. */
  connectionWait(origin: string, waiting: boolean): void {
    if (waiting) {
      this.connectionWaits.labels(origin).inc();
      this.connectionsWaiting.labels(origin).inc();
    } else {
      this.connectionsWaiting.labels(origin).dec();
    }
  }

  #collectEndpoints(): void {
    const gauge = this.upstreamEndpoints;
    gauge.reset();
    for (const { upstream, ready, ejected } of this.endpointCounts?.() ?? []) {
      gauge.labels(upstream, "ready").set(ready);
      gauge.labels(upstream, "ejected").set(ejected);
    }
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Content type of the exposition. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
