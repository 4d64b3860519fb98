/** The request log as a lifecycle subscriber: a line per failed attempt and retry, and one `request` line at the end. */
import { log, logEnabled } from "./log.ts";
import type { Attempt, Exchange, LifecycleSubscriber } from "./request_lifecycle.ts";

/** Writes the request's log lines (JSON, see gateway/log.ts), each with its `request_id`. */
export class RequestLog implements LifecycleSubscriber {
  /** Notes the retry and where it goes: another endpoint of the same upstream, or another upstream. */
  retry(exchange: Exchange, attempt: Attempt): void {
    log("info", "retrying", {
      request_id: exchange.requestId,
      trace_id: exchange.traceId,
      upstream: attempt.upstream,
      endpoint: attempt.endpoint?.baseUrl,
    });
  }

  /** Notes the failed attempt: upstream, endpoint, kind, what happened. */
  attemptFailed(exchange: Exchange, attempt: Attempt): void {
    log("warn", "upstream attempt failed", {
      request_id: exchange.requestId,
      trace_id: exchange.traceId,
      upstream: attempt.upstream,
      endpoint: attempt.endpoint?.baseUrl,
      kind: attempt.failure,
      error: attempt.detail,
    });
  }

  /** The `request` line: probes at debug, 5xx at warn (upstream) or error (the gateway's own), the rest at info. */
  end(exchange: Exchange): void {
    const status = exchange.status;
    const level = exchange.quiet ? "debug" : status < 500 ? "info" : exchange.attempts > 0 ? "warn" : "error";
    if (!logEnabled(level)) return;
    const ttft = exchange.firstByteMs;
    log(level, "request", {
      request_id: exchange.requestId,
      trace_id: exchange.traceId,
      method: exchange.method,
      path: exchange.path,
      model: exchange.model,
      key: exchange.key,
      stream: exchange.operation?.streamable ? exchange.stream : undefined,
      upstream: exchange.upstream,
      status,
      attempts: exchange.attempts || undefined,
      duration_ms: Math.round((performance.now() - exchange.startedAt) * 100) / 100,
      ttft_ms: ttft === undefined ? undefined : Math.round(ttft * 100) / 100,
      prompt_tokens: exchange.inputTokens,
      completion_tokens: exchange.outputTokens,
      aborted: exchange.aborted || undefined,
      error: exchange.error,
    });
  }
}
