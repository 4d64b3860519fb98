/**
 * The live endpoints of one upstream: for each, the gateway's in-flight count, its circuit breaker and its last
 * scraped load. Discovery replaces the list; an endpoint that stays keeps its state.
 */
import { type BreakerPolicy, CircuitBreaker } from "./circuit_breaker.ts";
import type { UpstreamEndpoint } from "./config.ts";

/** What an endpoint's model server reported on /metrics (see load_metrics.ts). */
export interface LoadSample {
  /** Requests queued in the model server. */
  waiting: number;
  /** Requests generating now. */
  running: number;
  /** KV-cache use, 0..1. */
  kvUsage: number;
  /** `performance.now()` when the sample arrived. */
  at: number;
}

/** One server of an upstream and what the gateway knows about it. Fields are mutable for the hot path. */
export class Endpoint implements UpstreamEndpoint {
  readonly baseUrl: string;
  readonly metricsUrl: string;
  /** This gateway's requests to it that have not finished (streams included). */
  inFlight = 0;
  /** Failure streak and ejection. */
  readonly breaker = new CircuitBreaker();
  /** The last good scrape, or undefined (never scraped, or the last scrape failed). */
  load: LoadSample | undefined = undefined;
  /** `inFlight` when the scrape behind `load` was sent: what changed since is not in the sample yet. */
  inFlightAtSample = 0;
  /** False once discovery has removed it (requests already on it finish normally). */
  listed = true;

  constructor(urls: UpstreamEndpoint) {
    this.baseUrl = urls.baseUrl;
    this.metricsUrl = urls.metricsUrl;
  }

  /** A request is sent to it. */
  begin(): void {
    this.inFlight++;
  }

  /** A request to it is over (answered, failed or aborted). */
  end(): void {
    this.inFlight--;
  }

  /**
   * How this gateway's in-flight count changed since the scrape behind `load` was sent: requests sent minus requests
   * finished since then, which the model server's counts do not show yet (negative when more finished).
   */
  get sinceSample(): number {
    return this.inFlight - this.inFlightAtSample;
  }
}

/** Options of an endpoint set. */
export interface EndpointSetOptions {
  /** When an endpoint is ejected and for how long. */
  breaker: BreakerPolicy;
  /** Called when an endpoint is ejected. */
  onEject?: (endpoint: Endpoint) => void;
  /** Called after the list changed. */
  onChange?: (change: { added: Endpoint[]; removed: Endpoint[] }) => void;
  /** Clock, injectable for tests. */
  now?: () => number;
}

/** What /debug shows about an endpoint. */
export interface EndpointState {
  url: string;
  inFlight: number;
  ejected: boolean;
  load?: { waiting: number; running: number; kvUsage: number; ageMs: number };
}

/** The endpoints of one upstream. */
export class EndpointSet {
  readonly upstream: string;
  #endpoints: Endpoint[] = [];
  #byUrl = new Map<string, Endpoint>();
  /** Some endpoint was ejected since allEjected() last saw none ejected. */
  #mayBeEjected = false;
  readonly #options: EndpointSetOptions;
  /** The clock pickers use for ejection checks. */
  readonly now: () => number;

  constructor(upstream: string, endpoints: readonly UpstreamEndpoint[], options: EndpointSetOptions) {
    this.upstream = upstream;
    this.#options = options;
    this.now = options.now ?? (() => performance.now());
    this.replace(endpoints);
  }

  /** The current endpoints, in the order last given. Replaced, never mutated: safe to iterate. */
  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /**
   * Makes `endpoints` the list (duplicates by base URL dropped). Endpoints that stay keep their in-flight count,
   * breaker and load; the others are marked unlisted.
   */
  replace(endpoints: readonly UpstreamEndpoint[]): { added: Endpoint[]; removed: Endpoint[] } {
    const next: Endpoint[] = [];
    const byUrl = new Map<string, Endpoint>();
    const added: Endpoint[] = [];
    for (const urls of endpoints) {
      if (byUrl.has(urls.baseUrl)) continue;
      let endpoint = this.#byUrl.get(urls.baseUrl);
      if (endpoint === undefined) {
        endpoint = new Endpoint(urls);
        added.push(endpoint);
      }
      byUrl.set(urls.baseUrl, endpoint);
      next.push(endpoint);
    }
    const removed = this.#endpoints.filter((e) => !byUrl.has(e.baseUrl));
    for (const endpoint of removed) endpoint.listed = false;
    const reordered = next.length !== this.#endpoints.length || next.some((e, i) => e !== this.#endpoints[i]);
    this.#endpoints = next;
    this.#byUrl = byUrl;
    if (reordered) this.#options.onChange?.({ added, removed });
    return { added, removed };
  }

  /** The endpoint with this base URL, if listed. */
  get(baseUrl: string): Endpoint | undefined {
    return this.#byUrl.get(baseUrl);
  }

  /** Records a good answer from `endpoint`. */
  success(endpoint: Endpoint): void {
    endpoint.breaker.success();
  }

  /** Records a failed attempt on `endpoint` (connect error, 5xx, timeout); may eject it. */
  failure(endpoint: Endpoint): void {
    if (endpoint.breaker.failure(this.#options.breaker, this.now())) {
      this.#mayBeEjected = true;
      this.#options.onEject?.(endpoint);
    }
  }

  /** True when no listed endpoint can take a request now (all ejected, or none listed). Cheap while none is ejected. */
  allEjected(): boolean {
    const endpoints = this.#endpoints;
    if (endpoints.length === 0) return true;
    if (!this.#mayBeEjected) return false;
    const now = this.now();
    let ejected = 0;
    for (const endpoint of endpoints) if (endpoint.breaker.isEjected(now)) ejected++;
    if (ejected === 0) this.#mayBeEjected = false;
    return ejected === endpoints.length;
  }

  /** A snapshot for debugging and the endpoint gauge. */
  describe(): EndpointState[] {
    const now = this.now();
    return this.#endpoints.map((e) => ({
      url: e.baseUrl,
      inFlight: e.inFlight,
      ejected: e.breaker.isEjected(now),
      ...(e.load && {
        load: {
          waiting: e.load.waiting,
          running: e.load.running,
          kvUsage: e.load.kvUsage,
          ageMs: Math.round(now - e.load.at),
        },
      }),
    }));
  }
}
