/**
 * The upstreams at run time: one EndpointSet per upstream (its configured endpoints, or the ready pods discovered in
 * Kubernetes), one picker per (upstream, picker) for the routes, the load scraper for the sets whose picker reads
 * load, and EndpointSlice discovery per GATEWAY_DISCOVERY entry. Scraping and discovery run off the request path and
 * are started and stopped together.
 */
import { type Config, ConfigError, type PickerName } from "./config.ts";
import { EndpointSliceDiscovery } from "./discovery.ts";
import { type Endpoint, EndpointSet, type EndpointState } from "./endpoint_set.ts";
import { KubeApi } from "./kube_api.ts";
import { LoadScraper } from "./load_scraper.ts";
import { log } from "./log.ts";
import type { EndpointCounts, Metrics } from "./metrics.ts";
import type { Picker } from "./picker.ts";
import { createPicker, usesLoad } from "./pickers.ts";
import type { Exchange, LifecycleSubscriber } from "./request_lifecycle.ts";
import type { RouteTarget } from "./router.ts";

/** A failing endpoint's scrape is logged at most this often. */
const SCRAPE_LOG_INTERVAL_MS = 60_000;

/** An upstream as routes hold it: its endpoints and the picker that chooses one per attempt. */
export class UpstreamTarget implements RouteTarget {
  readonly name: string;
  readonly set: EndpointSet;
  readonly picker: Picker;

  constructor(set: EndpointSet, picker: Picker) {
    this.name = set.upstream;
    this.set = set;
    this.picker = picker;
  }

  /** Every endpoint is ejected, or there is none: the route tries other upstreams first. */
  isEjected(): boolean {
    return this.set.allEjected();
  }
}

/**
 * Ends the in-flight count of a request's last attempt on its endpoint when the request is over (answered, streamed to
 * the end, failed or aborted). The proxy ends an earlier, failed attempt's count when it moves on to the next.
 */
export const endpointRelease: LifecycleSubscriber = {
  end(exchange: Exchange): void {
    exchange.attempt?.endpoint?.end();
  },
};

/** What GET /debug/endpoints shows of one upstream. */
export interface UpstreamState {
  /** The pickers routes use on it. */
  pickers: PickerName[];
  /** `namespace/service:port` when its endpoints are discovered in Kubernetes. */
  discovery?: string;
  /** Endpoints that can take requests. */
  ready: number;
  /** Endpoints ejected after repeated failures. */
  ejected: number;
  endpoints: EndpointState[];
}

/** Options of the upstreams. */
export interface UpstreamEndpointsOptions {
  /** Counts ejections, discovery and scrape errors; reads the endpoint gauge from here. */
  metrics: Metrics;
  /** The API server for discovery (default: the pod's in-cluster access); asked only when GATEWAY_DISCOVERY is set. */
  kubeApi?: () => KubeApi;
  /** For the least_request picker; injectable for tests. */
  random?: () => number;
}

/** Every upstream's endpoints, pickers, load scraper and discovery. */
export class UpstreamEndpoints {
  readonly #config: Config;
  readonly #options: UpstreamEndpointsOptions;
  readonly #sets = new Map<string, EndpointSet>();
  readonly #targets = new Map<string, UpstreamTarget>();
  readonly #discoveries: EndpointSliceDiscovery[] = [];
  readonly #scrapeLoggedAt = new WeakMap<Endpoint, number>();
  readonly #api: KubeApi | undefined;
  #scraper: LoadScraper | undefined;

  /** Builds the sets and discovery; throws ConfigError when GATEWAY_DISCOVERY is set outside Kubernetes. */
  constructor(config: Config, options: UpstreamEndpointsOptions) {
    this.#config = config;
    this.#options = options;
    const { metrics } = options;
    const breaker = { ejectAfterFailures: config.ejectAfterFailures, ejectMs: config.ejectSeconds * 1000 };
    for (const upstream of config.upstreams.values()) {
      const name = upstream.name;
      this.#sets.set(
        name,
        new EndpointSet(name, upstream.endpoints, {
          breaker,
          onEject: (endpoint) => {
            metrics.ejections.labels(name).inc();
            log("warn", "endpoint ejected after repeated failures", {
              upstream: name,
              endpoint: endpoint.baseUrl,
              seconds: config.ejectSeconds,
            });
          },
        }),
      );
    }
    metrics.endpointCounts = () => this.counts();
    const discovery = config.routing.discovery;
    if (discovery.size === 0) return;
    try {
      this.#api = options.kubeApi?.() ?? KubeApi.inCluster();
    } catch (error) {
      throw new ConfigError("GATEWAY_DISCOVERY", `needs the Kubernetes API: ${(error as Error).message}`);
    }
    for (const [name, target] of discovery) {
      this.#discoveries.push(
        new EndpointSliceDiscovery({
          api: this.#api,
          set: this.#sets.get(name)!,
          target,
          baseUrl: config.upstreams.get(name)!.baseUrl,
          onError: () => metrics.discoveryErrors.labels(name).inc(),
        }),
      );
    }
  }

  /** The target of `upstream` with picker `picker` (undefined: GATEWAY_PICKER); one per pair, made on first use. */
  target(upstream: string, picker: PickerName | undefined): UpstreamTarget {
    const routing = this.#config.routing;
    const name = picker ?? routing.picker;
    const key = `${upstream} ${name}`;
    let target = this.#targets.get(key);
    if (target !== undefined) return target;
    const set = this.#sets.get(upstream)!;
    target = new UpstreamTarget(set, createPicker(name, set, { routing, random: this.#options.random }));
    this.#targets.set(key, target);
    if (usesLoad(name)) this.#loadScraper().add(set);
    return target;
  }

  /** Starts load scraping and discovery. */
  start(): void {
    this.#scraper?.start();
    for (const discovery of this.#discoveries) discovery.start();
  }

  /** Stops load scraping and discovery (the sets keep their last endpoints). */
  async stop(): Promise<void> {
    await Promise.all([this.#scraper?.stop(), ...this.#discoveries.map((d) => d.stop())]);
    this.#api?.close();
  }

  /** Discovery of every GATEWAY_DISCOVERY upstream has listed its Service once (for tests). */
  async synced(): Promise<void> {
    await Promise.all(this.#discoveries.map((d) => d.synced));
  }

  /** The endpoint set of an upstream. */
  set(upstream: string): EndpointSet | undefined {
    return this.#sets.get(upstream);
  }

  /** Ready and ejected endpoints per upstream (the nexus_upstream_endpoints gauge). */
  counts(): EndpointCounts[] {
    return [...this.#sets.values()].map((set) => {
      const now = set.now();
      const ejected = set.endpoints.filter((e) => e.breaker.isEjected(now)).length;
      return { upstream: set.upstream, ready: set.endpoints.length - ejected, ejected };
    });
  }

  /** Every upstream's endpoints with their state (GET /debug/endpoints). */
  describe(): Record<string, UpstreamState> {
    const pickers = new Map<string, PickerName[]>();
    for (const target of this.#targets.values()) {
      const list = pickers.get(target.name) ?? [];
      list.push(target.picker.name);
      pickers.set(target.name, list);
    }
    const result: Record<string, UpstreamState> = {};
    for (const [name, set] of this.#sets) {
      const endpoints = set.describe();
      const ejected = endpoints.filter((e) => e.ejected).length;
      const target = this.#config.routing.discovery.get(name);
      result[name] = {
        pickers: pickers.get(name) ?? [],
        ...(target && {
          discovery: `${target.namespace ? `${target.namespace}/` : ""}${target.service}` +
            (target.port === undefined ? "" : `:${target.port}`),
        }),
        ready: endpoints.length - ejected,
        ejected,
        endpoints,
      };
    }
    return result;
  }

  #loadScraper(): LoadScraper {
    return this.#scraper ??= new LoadScraper({
      intervalMs: this.#config.routing.loadScrapeMs,
      onError: ({ set, endpoint, error }) => {
        this.#options.metrics.loadScrapeErrors.labels(set.upstream).inc();
        const now = performance.now();
        if (now - (this.#scrapeLoggedAt.get(endpoint) ?? -Infinity) < SCRAPE_LOG_INTERVAL_MS) return;
        this.#scrapeLoggedAt.set(endpoint, now);
        log("warn", "load scrape failed; the endpoint is scored by its in-flight requests", {
          upstream: set.upstream,
          endpoint: endpoint.metricsUrl,
          error,
        });
      },
    });
  }
}
