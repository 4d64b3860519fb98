/**
 * Forwarding to upstreams: each attempt to an endpoint its upstream's picker chooses; retry once before the first
 * byte, on another endpoint of the same upstream first, then on the next upstream; stream bodies through, propagate
 * aborts and timeouts. Each moment of the request (attempt, failure, first byte, usage, end) is reported to its
 * Exchange.
 */
import { type BodyEnd, BodyObserver, type BodyOwner, modelFrom, TAIL_BYTES, usageFrom } from "./body_observer.ts";
import { type Deadline, Deadlines, Timeout } from "./deadlines.ts";
import type { Endpoint } from "./endpoint_set.ts";
import { errorResponse, HttpError, upstreamErrorBody } from "./errors.ts";
import type { Operation } from "./operations.ts";
import type { PickRequest } from "./picker.ts";
import type { Exchange } from "./request_lifecycle.ts";
import { MAX_ATTEMPTS } from "./router.ts";
import type { Usage } from "./stream_usage.ts";
import { answerOf, headerValue, type UpstreamAnswer, type UpstreamClient } from "./upstream_client.ts";
import type { ResponseHeaders } from "./response_headers.ts";
import type { UpstreamTarget } from "./upstream_endpoints.ts";

/** One request to forward. */
export interface ProxyRequest {
  /** The request's lifecycle: its operation and stream flag, and where the proxy reports each moment. */
  exchange: Exchange;
  /** The body to send, byte for byte. */
  body: Uint8Array<ArrayBuffer>;
  /** Headers to send upstream (never the client's key); an attempt may add its own (Attempt.setHeader). */
  headers: Array<[string, string]>;
  /** Aborts when the client disconnects. */
  clientSignal: AbortSignal;
  /** The gateway asked the upstream for usage the client did not ask for: take it out of the stream. */
  stripUsage: boolean;
  /** Upstreams in the order to try. */
  order: readonly UpstreamTarget[];
  /** The session header's value (GATEWAY_SESSION_HEADER), for the `prefix` picker. */
  session?: string | null;
  /** Headers to add to the client's response (request id, rate limit). */
  responseHeaders: ResponseHeaders;
}

/** Proxy settings. */
export interface ProxyOptions {
  client: UpstreamClient;
  firstByteTimeoutMs: number;
  requestTimeoutMs: number;
}

const decoder = new TextDecoder();

/**
 * One forwarded request's state: its deadlines (it is the Deadline), the abort of its upstream calls, the client's
 * abort listener (it is the listener), the owner of its streamed body, and what the pickers see of it (it is the
 * PickRequest). `end` is the proxy's only way to end it.
 */
class Forwarding implements Deadline, BodyOwner, PickRequest {
  firstByteAt = Infinity;
  readonly totalAt: number;
  readonly controller = new AbortController();
  readonly req: ProxyRequest;
  readonly body: Uint8Array;
  readonly operation: Operation;
  readonly session: string | null | undefined;
  readonly #deadlines: Deadlines;

  constructor(req: ProxyRequest, ctx: { deadlines: Deadlines; requestTimeoutMs: number }) {
    this.req = req;
    this.body = req.body;
    this.operation = req.exchange.operation!;
    this.session = req.session;
    this.#deadlines = ctx.deadlines;
    this.totalAt = performance.now() + ctx.requestTimeoutMs;
    if (req.clientSignal.aborted) this.handleEvent();
    else req.clientSignal.addEventListener("abort", this, { once: true });
    ctx.deadlines.add(this);
  }

  /** The client went away: abort the upstream call. */
  handleEvent(): void {
    this.controller.abort(this.req.clientSignal.reason);
  }

  /** Disarms the deadlines and the abort listener, then ends the exchange with the status the client got. */
  end(status: number, error?: string): void {
    this.#deadlines.delete(this);
    this.req.clientSignal.removeEventListener("abort", this);
    this.req.exchange.end(status, error);
  }

  /** Reports the answer's usage, when it had any (and notes the model it names). */
  usage(usage: Usage): void {
    if (usage.model !== undefined) this.req.exchange.responseModel = usage.model;
    if (usage.promptTokens !== undefined || usage.completionTokens !== undefined) {
      this.req.exchange.usage(usage.promptTokens, usage.completionTokens);
    }
  }

  bodyStarted(): void {
    this.req.exchange.firstByte();
  }

  bodyEnded(result: BodyEnd): HttpError | undefined {
    const exchange = this.req.exchange;
    const upstream = exchange.upstream!;
    const timeout = result.aborted ? undefined : timeoutOf(this.controller.signal);
    if (timeout) exchange.attemptFailed("timeout", timeout.message);
    else if (!result.aborted && result.error !== undefined) exchange.attemptFailed("broken", result.error);
    this.usage(result.usage);
    this.end(result.aborted ? 499 : exchange.attempt!.status!, result.error);
    // The client's stream ends with an OpenAI-style error event when the upstream's broke off or ran out of time.
    if (result.aborted || result.error === undefined) return undefined;
    return timeout ? timeoutError(upstream, timeout) : brokenError(upstream);
  }
}

/** Forwards requests to upstreams per ProxyOptions. */
export class Proxy {
  readonly #o: ProxyOptions;
  readonly #deadlines = new Deadlines();

  constructor(options: ProxyOptions) {
    this.#o = options;
  }

  /**
   * Sends the request to an endpoint of the first upstream, retrying once on connect failure or 5xx: on another
   * endpoint of the same upstream when it has one that is not ejected, else on the next upstream. The attempt loop:
   * each attempt names its upstream, endpoint and URL (base URL + the operation's path) and is reported before it is
   * sent; the endpoint counts it in flight until the attempt is over.
   */
  async forward(req: ProxyRequest): Promise<Response> {
    const o = this.#o;
    const exchange = req.exchange;
    const upstreamPath = exchange.operation!.upstreamPath;
    const forwarding = new Forwarding(req, { deadlines: this.#deadlines, requestTimeoutMs: o.requestTimeoutMs });
    const signal = forwarding.controller.signal;
    const order = req.order;
    let failed: UpstreamAnswer | undefined; // the last 5xx answer
    let error: unknown;
    let next = 0; // index in order of the upstream to try
    let failedEndpoint: Endpoint | undefined; // the endpoint that just failed, on order[next]
    while (exchange.attempts < MAX_ATTEMPTS && next < order.length) {
      const target = order[next];
      const endpoint = target.picker.pick(forwarding, failedEndpoint);
      // A retry stays on this upstream when it has another endpoint that is not ejected (or no other upstream).
      if (
        endpoint === undefined ||
        (failedEndpoint !== undefined && next + 1 < order.length && endpoint.breaker.isEjected(target.set.now()))
      ) {
        next++;
        failedEndpoint = undefined;
        continue;
      }
      failed?.cancel();
      failed = undefined;
      exchange.attempt?.endpoint?.end(); // the failed attempt is over (the last one: endpointRelease)
      const url = endpoint.baseUrl + upstreamPath;
      const attempt = exchange.beginAttempt({ upstream: target.name, endpoint, url, headers: req.headers });
      endpoint.begin();
      forwarding.firstByteAt = performance.now() + o.firstByteTimeoutMs;
      try {
        const response = answerOf(await o.client.post(url, { headers: attempt.headers, body: req.body, signal }));
        forwarding.firstByteAt = Infinity;
        attempt.status = response.status;
        if (response.status < 500) {
          target.set.success(endpoint);
          return this.#respond(forwarding, response);
        }
        failed = response;
        target.set.failure(endpoint);
        exchange.attemptFailed("status", `status ${response.status}`);
      } catch (thrown) {
        forwarding.firstByteAt = Infinity;
        error = thrown;
        if (signal.aborted) {
          // Client gone or timed out: no retry. A timeout still counts against the endpoint.
          if (signal.reason instanceof Timeout) target.set.failure(endpoint);
          break;
        }
        target.set.failure(endpoint);
        exchange.attemptFailed("connect", errorText(thrown));
      }
      failedEndpoint = endpoint;
    }
    // Every attempt answered 5xx: the client gets the last upstream's answer, in OpenAI's shape. Reading its body
    // stays under the deadlines and the client's abort.
    if (failed !== undefined) return await this.#respondError(forwarding, failed);
    if (exchange.attempts === 0) return this.#noEndpoint(forwarding);
    return this.#fail(forwarding, error);
  }

  /** No upstream had an endpoint to send to (none discovered ready): 503. */
  #noEndpoint(forwarding: Forwarding): Response {
    const req = forwarding.req;
    const upstream = req.order[0].name;
    forwarding.end(503, "no endpoint");
    const unavailable = new HttpError(503, `Upstream "${upstream}" has no ready endpoint.`, {
      code: "upstream_unavailable",
      headers: { "retry-after": "1" },
    });
    return errorResponse(unavailable, withUpstream(req.responseHeaders, upstream));
  }

  /** No attempt answered: the client left (499), a deadline passed (504), or no upstream could be reached (502). */
  #fail(forwarding: Forwarding, error: unknown): Response {
    const { req, controller } = forwarding;
    const exchange = req.exchange;
    const upstream = exchange.upstream!;
    const reason = controller.signal.reason;
    if (req.clientSignal.aborted) {
      forwarding.end(499, "client closed request");
      return errorResponse(
        new HttpError(499, "Client closed the request.", { code: "client_closed_request" }),
        req.responseHeaders,
      );
    }
    if (reason instanceof Timeout) {
      exchange.attemptFailed("timeout", reason.message);
      forwarding.end(504, reason.message);
      return errorResponse(timeoutError(upstream, reason), withUpstream(req.responseHeaders, upstream));
    }
    forwarding.end(502, errorText(error));
    const unreachable = new HttpError(502, `Upstream "${upstream}" is unreachable.`, { code: "upstream_unavailable" });
    return errorResponse(unreachable, withUpstream(req.responseHeaders, upstream));
  }

  #respond(forwarding: Forwarding, answer: UpstreamAnswer): Response | Promise<Response> {
    if (answer.status >= 400) return this.#respondError(forwarding, answer);
    const req = forwarding.req;
    const exchange = req.exchange;
    const status = answer.status;
    const headers = withUpstream(req.responseHeaders, exchange.upstream!).over(answer.headers);
    if (!answer.hasBody) {
      forwarding.end(status);
      return new Response(null, { status, headers });
    }
    if (!exchange.stream && !headerValue(answer.headers, "content-type")?.startsWith("text/event-stream")) {
      return this.#respondWhole(forwarding, { answer, headers });
    }
    const observer = new BodyObserver(answer, {
      owner: forwarding,
      usage: exchange.operation!.usage,
      stripUsage: req.stripUsage,
    });
    return new Response(observer.stream, { status, headers });
  }

  /** Passes an upstream's error answer on with its status, its body made OpenAI-shaped when it is not. */
  async #respondError(forwarding: Forwarding, answer: UpstreamAnswer): Promise<Response> {
    const req = forwarding.req;
    const upstream = req.exchange.upstream!;
    const status = answer.status;
    const own = withUpstream(req.responseHeaders, upstream);
    own.set("content-type", "application/json");
    const headers = own.over(answer.headers);
    // A body that stalls ends with the deadline (or the client's abort): the message then says only the status.
    const bytes = await answer.bytes().catch(() => new Uint8Array(0));
    forwarding.end(req.clientSignal.aborted ? 499 : status, `upstream status ${status}`);
    return new Response(upstreamErrorBody(bytes, { status, upstream }), { status, headers });
  }

  /** Reads a non-streamed answer whole (one buffer, no stream), then sends it as bytes. */
  async #respondWhole(
    forwarding: Forwarding,
    ctx: { answer: UpstreamAnswer; headers: Array<[string, string]> },
  ): Promise<Response> {
    const { answer, headers } = ctx;
    const req = forwarding.req;
    const exchange = req.exchange;
    const upstream = exchange.upstream!;
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await answer.bytes();
    } catch (error) {
      const aborted = req.clientSignal.aborted;
      const timeout = aborted ? undefined : timeoutOf(forwarding.controller.signal);
      if (timeout) exchange.attemptFailed("timeout", timeout.message);
      else if (!aborted) exchange.attemptFailed("broken", errorText(error));
      const failure = timeout ? timeoutError(upstream, timeout) : brokenError(upstream);
      forwarding.end(aborted ? 499 : failure.status, timeout?.message ?? errorText(error));
      return errorResponse(failure, req.responseHeaders);
    }
    const format = exchange.operation!.usage;
    if (format !== undefined) {
      const long = bytes.byteLength > TAIL_BYTES;
      const usage = usageFrom(decoder.decode(long ? bytes.subarray(bytes.byteLength - TAIL_BYTES) : bytes), format);
      // A long chat answer names its model at the start, before the choices.
      if (long && usage.promptTokens !== undefined) usage.model ??= modelFrom(decoder.decode(bytes.subarray(0, 512)));
      forwarding.usage(usage);
    }
    forwarding.end(answer.status);
    return new Response(bytes, { status: answer.status, headers });
  }
}

/** The Timeout a deadline aborted the upstream request with, if that is why it was aborted. */
function timeoutOf(signal: AbortSignal): Timeout | undefined {
  return signal.aborted && signal.reason instanceof Timeout ? signal.reason : undefined;
}

function timeoutError(upstream: string, reason: Timeout): HttpError {
  return new HttpError(504, `Upstream "${upstream}" did not answer in time (${reason.message}).`, {
    code: "upstream_timeout",
  });
}

function brokenError(upstream: string): HttpError {
  return new HttpError(502, `Upstream "${upstream}" broke off its answer.`, { code: "upstream_unavailable" });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function withUpstream(headers: ResponseHeaders, upstream: string): ResponseHeaders {
  headers.set("x-nexus-upstream", upstream);
  return headers;
}
