/** The gateway's request metrics as a lifecycle subscriber: counts, durations, time to first token, tokens, retries. */
import type { Metrics } from "./metrics.ts";
import type { Attempt, Exchange, LifecycleSubscriber } from "./request_lifecycle.ts";

/** Updates the `nexus_*` request metrics from each request's moments. */
export class RequestMetrics implements LifecycleSubscriber {
  readonly #metrics: Metrics;

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  /** A request being processed (streams included) from start to end. */
  start(): void {
    this.#metrics.inFlight.inc();
  }

  /** The first attempt ends the gateway's own work before the upstream call: its overhead. */
  attempt(exchange: Exchange, attempt: Attempt): void {
    if (attempt.number === 1) this.#metrics.overhead.observe((attempt.startedAt - exchange.startedAt) / 1000);
  }

  /** Counts the retry on its upstream. */
  retry(_exchange: Exchange, attempt: Attempt): void {
    this.#metrics.retries.labels(attempt.upstream).inc();
  }

  /** Counts the failed attempt by upstream and kind. */
  attemptFailed(_exchange: Exchange, attempt: Attempt): void {
    this.#metrics.upstreamErrors.labels(attempt.upstream, attempt.failure!).inc();
  }

  /** Counts the request; a routed one also gets its duration, time to first token and tokens. */
  end(exchange: Exchange): void {
    const metrics = this.#metrics;
    if (exchange.started) metrics.inFlight.dec();
    if (exchange.quiet) return;
    const status = exchange.status;
    if (!exchange.routed) {
      // Refused before the request was routed (401, 403, 404, 405, 413, ...): counted with an empty model.
      metrics.requests.labels("", "", String(status)).inc();
      return;
    }
    // A 404 from upstream is the upstream not knowing the model (a typo on the default upstream): no label of its own.
    const model = metrics.modelLabel(exchange.model!, status !== 404);
    const upstream = exchange.upstream ?? "";
    metrics.requests.labels(model, upstream, String(status)).inc();
    if (exchange.attempts === 0) return; // refused after routing (429, rate limiter down): nothing was forwarded
    metrics.duration.labels(model, upstream).observe((performance.now() - exchange.startedAt) / 1000);
    if (exchange.stream && exchange.firstByteMs !== undefined) {
      metrics.ttft.labels(model, upstream).observe(exchange.firstByteMs / 1000);
    }
    if (exchange.inputTokens) metrics.tokens.labels(model, upstream, "prompt").inc(exchange.inputTokens);
    if (exchange.outputTokens) metrics.tokens.labels(model, upstream, "completion").inc(exchange.outputTokens);
  }
}
