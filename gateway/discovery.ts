/**
 * Kubernetes discovery of an upstream's endpoints: lists the EndpointSlices of a Service through the API server, then
 * watches them (resourceVersion, bookmarks), and keeps the upstream's EndpointSet at the Service's ready endpoints.
 * Off the request path. An expired watch (410 Gone) lists again; a lost API server keeps the last known endpoints
 * while discovery retries with jittered exponential backoff; each failure is reported (onError: a metric) and logged.
 */
import { type DiscoveryTarget, parseEndpointUrl } from "./config.ts";
import type { EndpointSet } from "./endpoint_set.ts";
import { type EndpointSlice, endpointUrls } from "./endpoint_slices.ts";
import { errorText } from "./error_text.ts";
import type { KubeApi } from "./kube_api.ts";
import { log } from "./log.ts";

/** Options of one upstream's discovery. */
export interface DiscoveryOptions {
  /** The API server. */
  api: KubeApi;
  /** The upstream's endpoints, replaced as the Service's ready endpoints change. */
  set: EndpointSet;
  /** The Service. */
  target: DiscoveryTarget;
  /** The upstream's configured URL: discovered endpoints keep its scheme and base path. */
  baseUrl: string;
  /** Called for each failed list or watch, with what went wrong. */
  onError?: (error: string) => void;
  /** Called with the new endpoint URLs after each change. */
  onUpdate?: (urls: readonly string[]) => void;
  /** Retry delays after failures: initial, doubled per failure up to max, ±20 % jitter (default 500 ms .. 30 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** How long the server keeps one watch open (default 300 s); then discovery watches again from where it was. */
  watchTimeoutSeconds?: number;
  /** A watch that sends nothing (not even a bookmark) for this long is dropped (default: its timeout + 60 s). */
  silenceMs?: number;
  /**
   * A list must be read whole, and a watch must answer its head, within this many milliseconds (default 10 s): an API
   * server that is unreachable without refusing (packets dropped, a Service without endpoints) is then a counted,
   * logged failure, not a wait without end.
   */
  requestTimeoutMs?: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** The watch's resourceVersion is too old: list again. */
class Expired extends Error {}

interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: EndpointSlice & { code?: number; message?: string };
}

/** Watches one Service's EndpointSlices and keeps an EndpointSet current. */
export class EndpointSliceDiscovery {
  /** Resolves once the first list has been applied. */
  readonly synced: Promise<void>;
  readonly #o: DiscoveryOptions;
  readonly #path: string;
  readonly #template: { protocol: string; basePath: string; port?: string | number };
  readonly #stop = new AbortController();
  readonly #markSynced: () => void;
  #slices = new Map<string, EndpointSlice>();
  #applied = "";
  #warned = "";
  #failures = 0;
  #expiredInARow = 0;
  #lastWarnAt = -Infinity;
  #running: Promise<void> | undefined;

  constructor(options: DiscoveryOptions) {
    this.#o = options;
    const { namespace, service, port } = options.target;
    const selector = encodeURIComponent(`kubernetes.io/service-name=${service}`);
    this.#path = `/apis/discovery.k8s.io/v1/namespaces/${namespace ?? options.api.namespace}/endpointslices` +
      `?labelSelector=${selector}`;
    const url = new URL(options.baseUrl);
    this.#template = { protocol: url.protocol, basePath: url.pathname.replace(/\/+$/, ""), port };
    const synced = Promise.withResolvers<void>();
    this.synced = synced.promise;
    this.#markSynced = synced.resolve;
  }

  /** Starts listing and watching in the background. */
  start(): void {
    this.#running ??= this.#run();
  }

  /** Stops watching (the endpoint set keeps its last list). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  async #run(): Promise<void> {
    let version: string | undefined;
    while (!this.#stop.signal.aborted) {
      try {
        if (version === undefined) version = await this.#list();
        version = await this.#watch(version);
      } catch (error) {
        if (this.#stop.signal.aborted) break;
        if (error instanceof Expired) {
          version = undefined;
          // Routine after a compaction; twice in a row without an event in between is not: slow down.
          if (++this.#expiredInARow > 1) await this.#sleep(this.#o.backoff?.initialMs ?? 500);
          continue;
        }
        this.#failed(errorText(error));
        await this.#sleep(this.#backoffMs());
      }
    }
  }

  /** Lists the slices, applies them, returns the list's resourceVersion. */
  async #list(): Promise<string> {
    const timeoutMs = this.#o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    let list: { metadata: { resourceVersion: string }; items: EndpointSlice[] };
    try {
      const response = await this.#o.api.get(this.#path, AbortSignal.any([this.#stop.signal, timeout]));
      if (!response.ok) throw await apiError(response, "list");
      list = await response.json();
    } catch (error) {
      if (timeout.aborted && !this.#stop.signal.aborted) {
        throw new Error(`the API server did not answer a list within ${timeoutMs} ms`);
      }
      throw error;
    }
    this.#slices = new Map(list.items.map((slice) => [slice.metadata.name, slice]));
    this.#apply();
    this.#recovered();
    this.#markSynced();
    return list.metadata.resourceVersion;
  }

  /** Watches from `version` until the server ends the watch; returns the last version seen. */
  async #watch(version: string): Promise<string> {
    const timeout = this.#o.watchTimeoutSeconds ?? 300;
    const silenceMs = this.#o.silenceMs ?? timeout * 1_000 + 60_000;
    // Aborted by stop() (even one that came before this watch started) or by silence.
    const silence = new AbortController();
    const signal = AbortSignal.any([this.#stop.signal, silence.signal]);
    const headTimeoutMs = this.#o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    let silent = new Error(`the API server did not answer a watch within ${headTimeoutMs} ms`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (ms = silenceMs) => {
      clearTimeout(timer);
      timer = setTimeout(() => silence.abort(), ms);
    };
    arm(Math.min(headTimeoutMs, silenceMs));
    try {
      const path = `${this.#path}&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(version)}` +
        `&timeoutSeconds=${timeout}`;
      const response = await this.#o.api.get(path, signal);
      if (response.status === 410) {
        await response.body?.cancel();
        throw new Expired();
      }
      if (!response.ok) throw await apiError(response, "watch");
      silent = new Error(`the watch sent nothing for ${silenceMs} ms`);
      arm();
      this.#recovered();
      let buffered = "";
      for await (const text of response.body!.pipeThrough(new TextDecoderStream())) {
        arm();
        buffered += text;
        let changed = false;
        for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line === "") continue;
          const event = JSON.parse(line) as WatchEvent;
          version = this.#handle(event) ?? version;
          changed ||= event.type !== "BOOKMARK";
        }
        if (changed) {
          this.#expiredInARow = 0;
          this.#apply();
        }
      }
      return version;
    } catch (error) {
      throw silence.signal.aborted && !this.#stop.signal.aborted ? silent : error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Applies one watch event to the slices; returns its resourceVersion. */
  #handle(event: WatchEvent): string | undefined {
    const object = event.object;
    switch (event.type) {
      case "ADDED":
      case "MODIFIED":
        this.#slices.set(object.metadata.name, object);
        break;
      case "DELETED":
        this.#slices.delete(object.metadata.name);
        break;
      case "ERROR":
        if (object.code === 410) throw new Expired();
        throw new Error(`watch error ${object.code}: ${object.message}`);
    }
    return object.metadata?.resourceVersion;
  }

  /** Makes the set the ready endpoints of the current slices, when they changed. */
  #apply(): void {
    const { set, target } = this.#o;
    const { urls, skipped } = endpointUrls(this.#slices.values(), this.#template);
    const warning = this.#slices.size === 0
      ? `no EndpointSlices for Service "${target.service}": keeping the last known endpoints`
      : skipped.length > 0
      ? `EndpointSlices without port ${JSON.stringify(target.port)} skipped: ${skipped.join(", ")}`
      : "";
    if (warning !== this.#warned) {
      this.#warned = warning;
      if (warning) log("warn", "discovery: " + warning, { upstream: set.upstream });
    }
    if (this.#slices.size === 0) return;
    const key = urls.join(" ");
    if (key === this.#applied) return;
    this.#applied = key;
    set.replace(urls.map((url) => parseEndpointUrl(url, { upstream: set.upstream, variable: "GATEWAY_DISCOVERY" })));
    log("info", "discovery: endpoints changed", { upstream: set.upstream, endpoints: urls });
    this.#o.onUpdate?.(urls);
  }

  #failed(error: string): void {
    this.#failures++;
    this.#o.onError?.(error);
    const now = performance.now();
    if (this.#failures === 1 || now - this.#lastWarnAt >= 60_000) {
      this.#lastWarnAt = now;
      log("warn", "discovery failed, keeping the last known endpoints", {
        upstream: this.#o.set.upstream,
        k8s_service: this.#o.target.service,
        failures: this.#failures,
        error,
      });
    }
  }

  #recovered(): void {
    if (this.#failures === 0) return;
    log("info", "discovery recovered", { upstream: this.#o.set.upstream, failures: this.#failures });
    this.#failures = 0;
  }

  #backoffMs(): number {
    const { initialMs, maxMs } = this.#o.backoff ?? { initialMs: 500, maxMs: 30_000 };
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(30, this.#failures - 1));
    return base * (0.8 + 0.4 * Math.random());
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#stop.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/** An Error from a failed API answer, with the API's own message (Status.message) when it sent one. */
async function apiError(response: Response, what: string): Promise<Error> {
  const text = await response.text().catch(() => "");
  let message = text.slice(0, 300);
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch { /* not a Status object */ }
  return new Error(`${what} answered ${response.status}: ${message}`);
}
