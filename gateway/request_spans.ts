/**
 * OpenTelemetry spans as a lifecycle subscriber: one SERVER span per request (continuing the caller's `traceparent`)
 * and one CLIENT span per upstream attempt, whose context goes upstream as the attempt's `traceparent`. Attributes
 * follow the OpenTelemetry GenAI and HTTP conventions, plus `nexus.*` (README, "Tracing").
 *
 * Probes are not traced. A span is opened at the request's first moment that needs it (`start`, or `end` for a
 * request refused before its body was read) and starts at the request's arrival.
 */
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OPERATIONS_BY_PATH } from "./operations.ts";
import { type Attempt, type Exchange, type LifecycleSubscriber, Slot } from "./request_lifecycle.ts";

/**
 * A span time, in epoch milliseconds with sub-millisecond precision, from a `performance.now()` reading (now by
 * default). Every start and end is given on this one clock: the SDK's own end time for a span with a given start is
 * `Date.now()`, whole milliseconds, which could put an attempt's end after its request's end.
 */
function spanTime(performanceMs = performance.now()): number {
  return performance.timeOrigin + performanceMs;
}

/**
 * A request's spans: its server span, the context its attempts are children of, the attempt in flight, and whether
 * the trace is sampled (when it is not, the spans only carry ids: no attribute is computed for them).
 */
interface RequestState {
  server: Span;
  context: Context;
  attempt: Span | undefined;
  recording: boolean;
}

/** Reads the caller's `traceparent` and `tracestate` from the request's headers. */
const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};

/** Paths with a route of their own (the span name keeps them); any other path is named by its method only. */
const ROUTES = new Set([...OPERATIONS_BY_PATH.keys(), "/v1/models"]);

/** Opens, fills in and ends each request's spans (see the module comment). */
export class RequestSpans implements LifecycleSubscriber {
  readonly #tracer: Tracer;
  readonly #propagator = new W3CTraceContextPropagator();
  readonly #slot = new Slot<RequestState>();
  /** `server.address` and `server.port` of each upstream, from its first attempt's URL. */
  readonly #servers = new Map<string, Attributes>();

  constructor(tracer: Tracer) {
    this.#tracer = tracer;
  }

  /** The request named its operation and model: the server span gets the GenAI request attributes. */
  start(exchange: Exchange): void {
    const state = this.#open(exchange);
    if (!state.recording) return;
    const span = state.server;
    const operation = exchange.operation!;
    span.setAttribute("gen_ai.operation.name", operation.genAiOperation);
    span.setAttribute("gen_ai.request.model", exchange.model!);
    if (operation.streamable) span.setAttribute("gen_ai.request.stream", exchange.stream);
    const maxTokens = maxTokensOf(exchange.fields);
    if (maxTokens !== undefined) span.setAttribute("gen_ai.request.max_tokens", maxTokens);
  }

  /** A CLIENT span for the attempt, child of the server span; its context goes upstream as `traceparent`. */
  attempt(exchange: Exchange, attempt: Attempt): void {
    const state = this.#open(exchange);
    state.attempt?.end(spanTime()); // not reached: a failed attempt's span ends at attemptFailed
    const operation = exchange.operation!;
    const span = this.#tracer.startSpan(`${operation.genAiOperation} ${exchange.model}`, {
      kind: SpanKind.CLIENT,
      startTime: spanTime(attempt.startedAt),
      attributes: !state.recording ? undefined : {
        "gen_ai.operation.name": operation.genAiOperation,
        "gen_ai.request.model": exchange.model,
        "http.request.method": "POST",
        "url.full": attempt.url,
        ...this.#server(attempt),
        "nexus.upstream": attempt.upstream,
        "nexus.attempt": attempt.number,
      },
    }, state.context);
    state.attempt = span;
    const { traceId, spanId, traceFlags } = span.spanContext();
    attempt.setHeader("traceparent", `00-${traceId}-${spanId}-0${traceFlags & 1}`);
  }

  /** The attempt failed (a later one may still answer): its span ends with the error. */
  attemptFailed(exchange: Exchange, attempt: Attempt): void {
    const state = this.#slot.get(exchange);
    const span = state?.attempt;
    if (span === undefined) return;
    if (attempt.status !== undefined) span.setAttribute("http.response.status_code", attempt.status);
    failed(span, {
      type: attempt.failure === "status" ? String(attempt.status) : attempt.failure!,
      message: attempt.detail,
    });
    span.end(spanTime());
    state!.attempt = undefined;
  }

  /** The stream's first bytes: time to first chunk on the server span (from arrival) and the attempt (from its send). */
  firstByte(exchange: Exchange): void {
    const state = this.#slot.get(exchange);
    if (state === undefined || !state.recording) return;
    const ms = exchange.firstByteMs!;
    state.server.setAttribute("gen_ai.response.time_to_first_chunk", ms / 1000);
    const attempt = exchange.attempt;
    if (state.attempt !== undefined && attempt !== undefined) {
      state.attempt.setAttribute(
        "gen_ai.response.time_to_first_chunk",
        (exchange.startedAt + ms - attempt.startedAt) / 1000,
      );
    }
  }

  /** The request is over: the answering attempt's span and the server span get the outcome, and end. */
  end(exchange: Exchange): void {
    if (exchange.quiet) return;
    const state = this.#open(exchange);
    if (!state.recording) {
      const now = spanTime();
      state.attempt?.end(now);
      state.server.end(now);
      return;
    }
    const usage = usageAttributes(exchange);
    const attempt = state.attempt;
    if (attempt !== undefined) {
      const status = exchange.attempt?.status;
      if (status !== undefined) attempt.setAttribute("http.response.status_code", status);
      attempt.setAttributes(usage);
      // A client span's error is any 4xx or 5xx answer, or an answer that broke off.
      if (status !== undefined && status >= 400) failed(attempt, { type: String(status) });
      else if (exchange.error !== undefined && !exchange.aborted) {
        failed(attempt, { type: exchange.attempt?.failure ?? "error", message: exchange.error });
      }
      attempt.end(spanTime());
    }
    const server = state.server;
    const status = exchange.status;
    server.setAttributes(usage);
    server.setAttribute("http.response.status_code", status);
    if (exchange.key !== undefined) server.setAttribute("nexus.key.name", exchange.key);
    if (exchange.upstream !== undefined) server.setAttribute("nexus.upstream", exchange.upstream);
    if (exchange.attempts > 0) server.setAttribute("nexus.attempts", exchange.attempts);
    // A server span's error is a 5xx, or a stream that broke off after its 200 (not the client leaving: 499).
    if (status >= 500) failed(server, { type: String(status), message: exchange.error });
    else if (status < 400 && exchange.error !== undefined) {
      failed(server, { type: exchange.attempt?.failure ?? "error", message: exchange.error });
    }
    server.end(spanTime());
  }

  /** The request's state, opening its server span (as a child of the caller's span, if any) on first use. */
  #open(exchange: Exchange): RequestState {
    const known = this.#slot.get(exchange);
    if (known !== undefined) return known;
    const parent = this.#propagator.extract(ROOT_CONTEXT, exchange.request.headers, headerGetter);
    const route = ROUTES.has(exchange.path) ? exchange.path : undefined;
    const server = this.#tracer.startSpan(route === undefined ? exchange.method : `${exchange.method} ${route}`, {
      kind: SpanKind.SERVER,
      startTime: spanTime(exchange.startedAt),
      attributes: {
        "http.request.method": exchange.method,
        "url.path": exchange.path,
        ...(route === undefined ? {} : { "http.route": route }),
        "nexus.request_id": exchange.requestId,
      },
    }, parent);
    const state: RequestState = {
      server,
      context: trace.setSpan(parent, server),
      attempt: undefined,
      recording: server.isRecording(),
    };
    this.#slot.set(exchange, state);
    exchange.traceId = server.spanContext().traceId;
    return state;
  }

  /** `server.address` and `server.port` of the attempt's upstream (parsed once per upstream). */
  #server(attempt: Attempt): Attributes {
    let server = this.#servers.get(attempt.upstream);
    if (server === undefined) {
      const url = new URL(attempt.url);
      const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
      server = { "server.address": url.hostname, "server.port": port };
      this.#servers.set(attempt.upstream, server);
    }
    return server;
  }
}

/** Marks a span failed: status ERROR with the message, and `error.type`. */
function failed(span: Span, error: { type: string; message?: string }): void {
  span.setAttribute("error.type", error.type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** `gen_ai.request.max_tokens`: the request's `max_tokens`, `max_completion_tokens` or `max_output_tokens`. */
function maxTokensOf(fields: Record<string, unknown> | undefined): number | undefined {
  if (fields === undefined) return undefined;
  const value = fields.max_tokens ?? fields.max_completion_tokens ?? fields.max_output_tokens;
  return typeof value === "number" && Number.isInteger(value) ? value : undefined;
}

/** The answer's token counts and model, as GenAI attributes. */
function usageAttributes(exchange: Exchange): Attributes {
  const attributes: Attributes = {};
  if (exchange.inputTokens !== undefined) attributes["gen_ai.usage.input_tokens"] = exchange.inputTokens;
  if (exchange.outputTokens !== undefined) attributes["gen_ai.usage.output_tokens"] = exchange.outputTokens;
  if (exchange.responseModel !== undefined) attributes["gen_ai.response.model"] = exchange.responseModel;
  return attributes;
}
