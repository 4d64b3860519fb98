/**
 * Scrapes each endpoint's /metrics every GATEWAY_LOAD_SCRAPE_MS, off the request path, and stores the load on the
 * endpoint (endpoint_set.ts) for the `load` and `prefix` pickers. One scrape per endpoint at a time; a failed scrape
 * clears the endpoint's load (pickers then use its in-flight count) and the endpoint is retried with backoff.
 */
import type { Endpoint, EndpointSet } from "./endpoint_set.ts";
import { errorText } from "./error_text.ts";
import { LOAD_METRICS_QUERY, parseLoad } from "./load_metrics.ts";

/** Longest wait between scrapes of an endpoint that keeps failing. */
const MAX_BACKOFF_MS = 5_000;

/** Age after which a load sample is stale (and the timeout of one scrape): 3 intervals, at least 1 s. */
export function loadStaleMs(scrapeMs: number): number {
  return Math.max(3 * scrapeMs, 1_000);
}

/** Options of the scraper. */
export interface LoadScraperOptions {
  /** Time between two scrapes of an endpoint. */
  intervalMs: number;
  /** Timeout of one scrape (default loadStaleMs(intervalMs)). */
  timeoutMs?: number;
  /** Called for each failed scrape: the set, the endpoint and what went wrong. */
  onError?: (failure: { set: EndpointSet; endpoint: Endpoint; error: string }) => void;
}

interface ScrapeState {
  running: Promise<void> | undefined;
  failures: number;
  retryAt: number;
}

/** Keeps the load of every endpoint of the given sets current. */
export class LoadScraper {
  readonly #sets: EndpointSet[] = [];
  readonly #options: LoadScraperOptions;
  readonly #timeoutMs: number;
  readonly #states = new WeakMap<Endpoint, ScrapeState>();
  readonly #running = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: LoadScraperOptions) {
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? loadStaleMs(options.intervalMs);
  }

  /** Scrapes the endpoints of `set` too (whatever its list becomes later). */
  add(set: EndpointSet): void {
    if (!this.#sets.includes(set)) this.#sets.push(set);
  }

  /** Starts scraping every interval. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#options.intervalMs);
  }

  /** Scrapes every endpoint not already being scraped now, and waits for all scrapes in flight (for tests). */
  async scrapeNow(): Promise<void> {
    this.#tick({ ignoreBackoff: true });
    await Promise.all(this.#running);
  }

  /** Stops the timer and aborts scrapes in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stop.abort();
    await Promise.all(this.#running);
  }

  #tick(options: { ignoreBackoff?: boolean } = {}): void {
    if (this.#stop.signal.aborted) return;
    const now = performance.now();
    for (const set of this.#sets) {
      for (const endpoint of set.endpoints) {
        let state = this.#states.get(endpoint);
        if (state === undefined) this.#states.set(endpoint, state = { running: undefined, failures: 0, retryAt: 0 });
        if (state.running !== undefined || (!options.ignoreBackoff && now < state.retryAt)) continue;
        const running = this.#scrape(set, endpoint, state).finally(() => {
          state.running = undefined;
          this.#running.delete(running);
        });
        state.running = running;
        this.#running.add(running);
      }
    }
  }

  async #scrape(set: EndpointSet, endpoint: Endpoint, state: ScrapeState): Promise<void> {
    const inFlightBefore = endpoint.inFlight;
    let error: string;
    try {
      const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.#timeoutMs)]);
      const response = await fetch(endpoint.metricsUrl + LOAD_METRICS_QUERY, { signal });
      if (response.ok) {
        const load = parseLoad(await response.text());
        if (load !== undefined) {
          endpoint.load = {
            waiting: load.waiting,
            running: load.running,
            kvUsage: load.kvUsage,
            at: performance.now(),
          };
          endpoint.inFlightAtSample = inFlightBefore;
          state.failures = 0;
          state.retryAt = 0;
          return;
        }
        error = "no vLLM or SGLang load metrics in the answer";
      } else {
        await response.body?.cancel();
        error = `status ${response.status}`;
      }
    } catch (caught) {
      if (this.#stop.signal.aborted) return;
      error = caught instanceof DOMException && caught.name === "TimeoutError"
        ? `no answer within ${this.#timeoutMs} ms`
        : errorText(caught);
    }
    endpoint.load = undefined;
    state.failures++;
    state.retryAt = performance.now() +
      Math.min(this.#options.intervalMs * 2 ** (state.failures - 1), MAX_BACKOFF_MS);
    this.#options.onError?.({ set, endpoint, error });
  }
}
