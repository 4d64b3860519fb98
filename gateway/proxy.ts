/** Forwarding to upstreams: retry once before the first byte, stream bodies through, propagate aborts and timeouts. */
import type { Upstream } from "./config.ts";
import { errorEvent, errorResponse, HttpError, upstreamErrorBody } from "./errors.ts";
import { type Deadline, Deadlines, Timeout } from "./deadlines.ts";
import { type Usage, UsageStripper } from "./stream_usage.ts";
import type { UpstreamHealth } from "./upstream_health.ts";

/** What sends a request to an upstream; swappable (fetch today) after measuring. */
export interface UpstreamClient {
  /** Sends a POST with the given body; rejects on connect failure or abort. */
  post(
    url: string,
    init: { headers: Array<[string, string]>; body: Uint8Array<ArrayBuffer>; signal: AbortSignal },
  ): Promise<Response>;
  /** Closes its connections (on shutdown). */
  close?(): void;
}

/** The default client: Deno's fetch with its connection pool. */
export const fetchClient: UpstreamClient = {
  post: (url, init) => fetch(url, { method: "POST", headers: init.headers, body: init.body, signal: init.signal }),
};

/** Why an upstream attempt failed; "broken" is an answer that broke off after it had started. */
export type FailureKind = "connect" | "status" | "timeout" | "broken";

/** What the proxy reports when a request is over (body finished, failed or the client left). */
export interface ProxyOutcome {
  /** Status sent to the client; 499 when the client went away before the end (as nginx logs it). */
  status: number;
  /** Upstream that answered, if any. */
  upstream: string | undefined;
  /** Upstreams tried. */
  attempts: number;
  /** Milliseconds from request arrival to the first body chunk. */
  ttftMs?: number;
  /** Usage from the response, when present. */
  promptTokens?: number;
  completionTokens?: number;
  /** The client disconnected before the end. */
  aborted: boolean;
  /** Error text for the log, if any. */
  error?: string;
}

/** Hooks the proxy calls for metrics and logs. */
export interface ProxyHooks {
  /** An attempt on `upstream` failed; `detail` says how (status or error text). */
  onUpstreamError(upstream: string, failure: { kind: FailureKind; requestId: string; detail: string }): void;
  /** The request is retried on `upstream`. */
  onRetry(upstream: string, ctx: { requestId: string }): void;
}

/** One request to forward. */
export interface ProxyRequest {
  /** The request id, for the hooks' log lines. */
  requestId: string;
  /** Which endpoint: chat completions or completions. */
  endpoint: "chat" | "completions";
  /** The client's body, forwarded byte for byte. */
  body: Uint8Array<ArrayBuffer>;
  /** Headers to send upstream (never the client's key). */
  headers: Array<[string, string]>;
  /** Aborts when the client disconnects. */
  clientSignal: AbortSignal;
  /** The client asked for a stream (SSE); other answers are read whole, they come in one piece anyway. */
  stream: boolean;
  /** The gateway asked the upstream for usage the client did not ask for: take it out of the stream. */
  stripUsage: boolean;
  /** Upstream names in the order to try. */
  order: readonly string[];
  /** `performance.now()` at arrival. */
  startedAt: number;
  /** Headers to add to the client's response (request id, rate limit). */
  responseHeaders: Headers;
  /** Called exactly once when the request is over (body finished, failed, or the client left). */
  onDone(outcome: ProxyOutcome): void;
}

/** Proxy settings. */
export interface ProxyOptions {
  upstreams: ReadonlyMap<string, Upstream>;
  client: UpstreamClient;
  health: UpstreamHealth;
  firstByteTimeoutMs: number;
  requestTimeoutMs: number;
  hooks: ProxyHooks;
}

const DROP_RESPONSE_HEADERS = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "content-encoding",
  "proxy-connection",
  "upgrade",
  "trailer",
]);

/** Forwards requests to upstreams per ProxyOptions. */
export class Proxy {
  readonly #o: ProxyOptions;
  readonly #deadlines = new Deadlines();

  constructor(options: ProxyOptions) {
    this.#o = options;
  }

  /** Sends the request to the first upstream, retrying once on another on connect failure or 5xx. */
  async forward(req: ProxyRequest): Promise<Response> {
    const o = this.#o;
    const controller = new AbortController();
    const abort = () => controller.abort(req.clientSignal.reason);
    if (req.clientSignal.aborted) abort();
    else req.clientSignal.addEventListener("abort", abort, { once: true });
    const deadline: Deadline = { firstByteAt: Infinity, totalAt: performance.now() + o.requestTimeoutMs, controller };
    this.#deadlines.add(deadline);
    const finish = () => {
      this.#deadlines.delete(deadline);
      req.clientSignal.removeEventListener("abort", abort);
    };

    let last: { upstream: string; response?: Response; error?: unknown } | undefined;
    let attempt = 0;
    for (const name of req.order) {
      if (attempt > 0) {
        o.hooks.onRetry(name, { requestId: req.requestId });
        await last?.response?.body?.cancel().catch(() => {});
      }
      attempt++;
      const upstream = o.upstreams.get(name)!;
      const url = req.endpoint === "chat" ? upstream.chatUrl : upstream.completionsUrl;
      deadline.firstByteAt = performance.now() + o.firstByteTimeoutMs;
      try {
        const response = await o.client.post(url, { headers: req.headers, body: req.body, signal: controller.signal });
        deadline.firstByteAt = Infinity;
        last = { upstream: name, response };
        if (response.status < 500) {
          o.health.success(name);
          return this.#respond(req, { response, upstream: name, attempts: attempt, finish, signal: controller.signal });
        }
        o.health.failure(name);
        o.hooks.onUpstreamError(name, {
          kind: "status",
          requestId: req.requestId,
          detail: `status ${response.status}`,
        });
      } catch (error) {
        deadline.firstByteAt = Infinity;
        last = { upstream: name, error };
        if (controller.signal.aborted) {
          // Client gone or timed out: no retry. A timeout still counts against the upstream.
          if (controller.signal.reason instanceof Timeout) o.health.failure(name);
          break;
        }
        o.health.failure(name);
        o.hooks.onUpstreamError(name, { kind: "connect", requestId: req.requestId, detail: errorText(error) });
      }
    }
    return await this.#fail(req, { last, attempts: attempt, controller, finish });
  }

  #fail(
    req: ProxyRequest,
    ctx: {
      last: { upstream: string; response?: Response; error?: unknown } | undefined;
      attempts: number;
      controller: AbortController;
      finish: () => void;
    },
  ): Response | Promise<Response> {
    const { last, attempts, controller, finish } = ctx;
    const outcome = (status: number, error: string | undefined, aborted = false): ProxyOutcome => ({
      status,
      upstream: last?.upstream,
      attempts,
      aborted,
      error,
    });
    if (last?.response) {
      // Every attempt answered 5xx: the client gets the last upstream's answer, in OpenAI's shape. Reading its body
      // stays under the deadlines and the client's abort (finish comes after).
      return this.#respondError(req, { response: last.response, upstream: last.upstream, attempts, finish });
    }
    finish();
    const reason = controller.signal.reason;
    if (req.clientSignal.aborted) {
      req.onDone(outcome(499, "client closed request", true));
      return errorResponse(
        new HttpError(499, "Client closed the request.", { code: "client_closed_request" }),
        req.responseHeaders,
      );
    }
    if (reason instanceof Timeout) {
      this.#o.hooks.onUpstreamError(last!.upstream, {
        kind: "timeout",
        requestId: req.requestId,
        detail: reason.message,
      });
      req.onDone(outcome(504, reason.message));
      return errorResponse(timeoutError(last!.upstream, reason), withUpstream(req.responseHeaders, last!.upstream));
    }
    req.onDone(outcome(502, errorText(last?.error)));
    const error = new HttpError(502, `Upstream "${last?.upstream}" is unreachable.`, { code: "upstream_unavailable" });
    return errorResponse(error, last ? withUpstream(req.responseHeaders, last.upstream) : req.responseHeaders);
  }

  #respond(
    req: ProxyRequest,
    ctx: { response: Response; upstream: string; attempts: number; finish: () => void; signal: AbortSignal },
  ): Response | Promise<Response> {
    const { response, upstream, attempts, finish, signal } = ctx;
    const headers = passHeaders(response.headers, req.responseHeaders, upstream);
    if (response.status >= 400) return this.#respondError(req, { response, upstream, attempts, finish });
    const source = response.body;
    if (source === null) {
      finish();
      req.onDone({
        status: response.status,
        upstream,
        attempts,
        aborted: false,
      });
      return new Response(null, { status: response.status, headers });
    }
    if (!req.stream && !response.headers.get("content-type")?.startsWith("text/event-stream")) {
      return this.#respondWhole(req, { response, upstream, attempts, finish, headers, signal });
    }
    const observer = new BodyObserver({
      source,
      startedAt: req.startedAt,
      stripUsage: req.stripUsage,
      done: (result) => {
        finish();
        const timeout = result.aborted ? undefined : timeoutOf(signal);
        if (timeout) this.#timedOut(req, { upstream, reason: timeout });
        else if (!result.aborted && result.error !== undefined) this.#broken(req, { upstream, detail: result.error });
        req.onDone({ status: result.aborted ? 499 : response.status, upstream, attempts, ...result });
        // The client's stream ends with an OpenAI-style error event when the upstream's broke off or ran out of time.
        if (result.aborted || result.error === undefined) return undefined;
        return timeout ? timeoutError(upstream, timeout) : brokenError(upstream);
      },
    });
    return new Response(observer.stream, { status: response.status, headers });
  }

  /** Reports an upstream answer that ran out of time after it had started. */
  #timedOut(req: ProxyRequest, failure: { upstream: string; reason: Timeout }): void {
    this.#o.hooks.onUpstreamError(failure.upstream, {
      kind: "timeout",
      requestId: req.requestId,
      detail: failure.reason.message,
    });
  }

  /** Reports an upstream answer that broke off after it had started (the client did not go away). */
  #broken(req: ProxyRequest, failure: { upstream: string; detail: string }): void {
    this.#o.hooks.onUpstreamError(failure.upstream, {
      kind: "broken",
      requestId: req.requestId,
      detail: failure.detail,
    });
  }

  /** Passes an upstream's error answer on with its status, its body made OpenAI-shaped when it is not. */
  async #respondError(
    req: ProxyRequest,
    ctx: { response: Response; upstream: string; attempts: number; finish: () => void },
  ): Promise<Response> {
    const { response, upstream, attempts, finish } = ctx;
    const status = response.status;
    const headers = passHeaders(response.headers, req.responseHeaders, upstream);
    headers.set("content-type", "application/json");
    // A body that stalls ends with the deadline (or the client's abort): the message then says only the status.
    const bytes = await response.bytes().catch(() => new Uint8Array(0));
    finish();
    const aborted = req.clientSignal.aborted;
    req.onDone({ status: aborted ? 499 : status, upstream, attempts, aborted, error: `upstream status ${status}` });
    return new Response(upstreamErrorBody(bytes, { status, upstream }), { status, headers });
  }

  /** Reads a non-streamed answer whole (one allocation, no JS stream per chunk), then sends it. */
  async #respondWhole(
    req: ProxyRequest,
    ctx: {
      response: Response;
      upstream: string;
      attempts: number;
      finish: () => void;
      headers: Headers;
      signal: AbortSignal;
    },
  ): Promise<Response> {
    const { response, upstream, attempts, finish, headers, signal } = ctx;
    const outcome: ProxyOutcome = {
      status: response.status,
      upstream,
      attempts,
      aborted: false,
    };
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await response.bytes();
    } catch (error) {
      finish();
      const aborted = req.clientSignal.aborted;
      const timeout = aborted ? undefined : timeoutOf(signal);
      if (timeout) this.#timedOut(req, { upstream, reason: timeout });
      else if (!aborted) this.#broken(req, { upstream, detail: errorText(error) });
      const failure = timeout ? timeoutError(upstream, timeout) : brokenError(upstream);
      req.onDone({
        ...outcome,
        status: aborted ? 499 : failure.status,
        aborted,
        error: timeout?.message ?? String(error),
      });
      return errorResponse(failure, withUpstream(req.responseHeaders, upstream));
    }
    finish();
    const tail = bytes.byteLength > TAIL_BYTES ? bytes.subarray(bytes.byteLength - TAIL_BYTES) : bytes;
    const usage = usageFrom(decoder.decode(tail));
    req.onDone({ ...outcome, ...usage });
    return new Response(bytes, { status: response.status, headers });
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

function withUpstream(headers: Headers, upstream: string): Headers {
  headers.set("x-nexus-upstream", upstream);
  return headers;
}

/** Copies upstream response headers the client should see, then the gateway's own. */
function passHeaders(upstreamHeaders: Headers, own: Headers, upstream: string): Headers {
  const headers = new Headers();
  for (const [name, value] of upstreamHeaders) if (!DROP_RESPONSE_HEADERS.has(name)) headers.set(name, value);
  for (const [name, value] of own) headers.set(name, value);
  headers.set("x-nexus-upstream", upstream);
  return headers;
}

type BodyResult = Pick<ProxyOutcome, "ttftMs" | "promptTokens" | "completionTokens" | "aborted" | "error">;

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const LF = 10;
const PROMPT_TOKENS = /"prompt_tokens"\s*:\s*(\d+)/;
const COMPLETION_TOKENS = /"completion_tokens"\s*:\s*(\d+)/;
/**
 * Size of each read of a streamed answer. fetch's own reads allocate 64 KiB per chunk; SSE chunks are a few hundred
 * bytes, so with 1,000 streams those buffers alone came to over 1 GB of RSS before the GC caught up.
 */
const READ_BYTES = 4096;

/** A BYOB reader when the body is a byte stream (fetch bodies are), so the gateway picks the read buffer size. */
function byobReader(source: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return source.getReader({ mode: "byob" });
  } catch {
    return undefined;
  }
}

/** Bytes at the end of a body searched for `usage` (it comes last in both JSON answers and SSE streams). */
const TAIL_BYTES = 4096;

/**
 * Passes an upstream body through chunk by chunk (pull-based, no buffering), noting when the first chunk
 * came and keeping the last few chunks to read `usage` once the body is complete (or, when the gateway asked for
 * usage itself, taking the usage out as it passes). `done` may return an error to end the client's stream with.
 */
class BodyObserver {
  readonly stream: ReadableStream<Uint8Array>;
  readonly #reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;
  readonly #startedAt: number;
  readonly #done: (result: BodyResult) => HttpError | undefined;
  readonly #stripper: UsageStripper | undefined;
  #ttftMs: number | undefined;
  #tail: Uint8Array[] = [];
  #tailBytes = 0;
  /** The last byte passed on ended an SSE event (an error event can follow it cleanly). */
  #atEventEnd = true;
  #finished = false;

  constructor(
    options: {
      source: ReadableStream<Uint8Array>;
      startedAt: number;
      stripUsage: boolean;
      done: (result: BodyResult) => HttpError | undefined;
    },
  ) {
    this.#reader = byobReader(options.source) ?? options.source.getReader();
    this.#startedAt = options.startedAt;
    this.#done = options.done;
    this.#stripper = options.stripUsage ? new UsageStripper() : undefined;
    this.stream = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: (reason) => this.#cancel(reason),
    }, { highWaterMark: 0 });
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    let value: Uint8Array;
    try {
      do {
        const chunk = await this.#read();
        if (chunk.done) return this.#close(controller);
        value = chunk.value;
        if (value.byteLength > 0 && this.#ttftMs === undefined) this.#ttftMs = performance.now() - this.#startedAt;
        if (this.#stripper !== undefined) value = this.#stripper.push(value);
      } while (value.byteLength === 0); // a BYOB read can come back empty, a stripped chunk too
    } catch (error) {
      const failure = this.#end({ aborted: false, error: error instanceof Error ? error.message : String(error) });
      if (failure === undefined) return controller.error(error);
      controller.enqueue(encoder.encode(`${this.#atEventEnd ? "" : "\n\n"}${errorEvent(failure)}`));
      controller.close();
      return;
    }
    if (this.#stripper === undefined) this.#keepTail(value);
    this.#atEventEnd = value.byteLength >= 2 && value[value.byteLength - 1] === LF &&
      value[value.byteLength - 2] === LF;
    controller.enqueue(value);
  }

  #close(controller: ReadableStreamDefaultController<Uint8Array>): void {
    const rest = this.#stripper?.end();
    if (rest !== undefined && rest.byteLength > 0) controller.enqueue(rest);
    this.#end({ aborted: false });
    controller.close();
  }

  /** Keeps a copy of the body's last bytes: the chunk is a view of a larger read buffer, which it would keep alive. */
  #keepTail(value: Uint8Array): void {
    this.#tail.push(value.slice());
    this.#tailBytes += value.byteLength;
    while (this.#tail.length > 1 && this.#tailBytes - this.#tail[0].byteLength >= TAIL_BYTES) {
      this.#tailBytes -= this.#tail.shift()!.byteLength;
    }
  }

  #read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    const reader = this.#reader;
    return reader instanceof ReadableStreamBYOBReader ? reader.read(new Uint8Array(READ_BYTES)) : reader.read();
  }

  #cancel(reason: unknown): Promise<void> {
    this.#end({ aborted: true, error: "client closed the stream" });
    return this.#reader.cancel(reason);
  }

  #end(result: { aborted: boolean; error?: string }): HttpError | undefined {
    if (this.#finished) return undefined;
    this.#finished = true;
    let usage: Usage = {};
    if (!result.aborted) {
      if (this.#stripper !== undefined) usage = this.#stripper.usage;
      else if (this.#tail.length > 0) usage = usageFrom(decodeTail(this.#tail, this.#tailBytes));
    }
    this.#tail = [];
    return this.#done({ ttftMs: this.#ttftMs, ...usage, ...result });
  }
}

/** Token counts from the last `usage` object in a body's tail (cheap: a search and two regexes, at the end only). */
function usageFrom(text: string): Usage {
  const at = text.lastIndexOf('"usage"');
  if (at < 0) return {};
  const usage = text.slice(at);
  const p = PROMPT_TOKENS.exec(usage);
  const c = COMPLETION_TOKENS.exec(usage);
  return { promptTokens: p ? Number(p[1]) : undefined, completionTokens: c ? Number(c[1]) : undefined };
}

function decodeTail(chunks: Uint8Array[], size: number): string {
  if (chunks.length === 1) return decoder.decode(chunks[0]);
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return decoder.decode(joined);
}
