/**
 * One API request's lifecycle: an Exchange records what is known about the request and emits its moments (start,
 * each upstream attempt, retry, a failed attempt, first byte, usage, end) to whatever subscribed to the gateway's
 * Lifecycle. Metrics, the request log line, token budgets and traces are subscribers; the server and the proxy only
 * report moments, and `end` is emitted once per request, by Exchange.end.
 *
 * Hot path: one Exchange per request and one Attempt per upstream attempt; a moment nobody subscribed to costs a
 * length check; subscribers keep per-request state in a Slot (an array index), not in closures or maps.
 */
import type { Endpoint } from "./endpoint_set.ts";
import type { Operation } from "./operations.ts";

/** Why an upstream attempt failed; "broken" is an answer that broke off after it had started. */
export type FailureKind = "connect" | "status" | "timeout" | "broken";

/**
 * What a concern does at each moment of a request; every method is optional. Subscribers must not throw: they run on
 * the request path (a throw would fail the request or, from a stream's end, be lost).
 */
export interface LifecycleSubscriber {
  /** The request named its operation, model, key and stream flag (after auth and body parsing, before routing). */
  start?(exchange: Exchange): void;
  /** An attempt is about to be sent; `attempt.setHeader` adds an outbound header (e.g. `traceparent`). */
  attempt?(exchange: Exchange, attempt: Attempt): void;
  /** The next attempt is a retry (emitted before its `attempt`). */
  retry?(exchange: Exchange, attempt: Attempt): void;
  /** An attempt failed (`attempt.failure`, `attempt.detail`); a later one may still answer. */
  attemptFailed?(exchange: Exchange, attempt: Attempt): void;
  /** The first body bytes of a streamed answer arrived (`exchange.firstByteMs`). */
  firstByte?(exchange: Exchange): void;
  /** The answer's usage was read (`exchange.inputTokens`, `exchange.outputTokens`). */
  usage?(exchange: Exchange): void;
  /** The request is over: answered (body sent), failed, refused, or the client left. Exactly once per request. */
  end?(exchange: Exchange): void;
}

type Moment = keyof LifecycleSubscriber;

/** Subscribers by moment: only those that implement it, so an empty moment costs a length check. */
class Subscribers {
  readonly start: LifecycleSubscriber[] = [];
  readonly attempt: LifecycleSubscriber[] = [];
  readonly retry: LifecycleSubscriber[] = [];
  readonly attemptFailed: LifecycleSubscriber[] = [];
  readonly firstByte: LifecycleSubscriber[] = [];
  readonly usage: LifecycleSubscriber[] = [];
  readonly end: LifecycleSubscriber[] = [];
}

const MOMENTS: readonly Moment[] = ["start", "attempt", "retry", "attemptFailed", "firstByte", "usage", "end"];

/** The gateway's subscribers; makes one Exchange per request. */
export class Lifecycle {
  readonly #subscribers = new Subscribers();

  /** Adds a subscriber to every moment it implements (at startup, before requests arrive). */
  subscribe(subscriber: LifecycleSubscriber): void {
    for (const moment of MOMENTS) if (subscriber[moment] !== undefined) this.#subscribers[moment].push(subscriber);
  }

  /** The Exchange of a request that just arrived. */
  begin(request: Request, facts: { requestId: string; path: string; startedAt: number }): Exchange {
    return new Exchange(this.#subscribers, request, facts);
  }
}

let slotCount = 0;

/** Per-request state of one subscriber (a span, a token reservation), kept on the Exchange without a map lookup. */
export class Slot<T> {
  readonly #index = slotCount++;

  /** The value stored for this request, if any. */
  get(exchange: Exchange): T | undefined {
    return exchange.slots?.[this.#index] as T | undefined;
  }

  /** Stores a value for this request. */
  set(exchange: Exchange, value: T): void {
    (exchange.slots ??= [])[this.#index] = value;
  }
}

/** What an attempt is sent to. */
export interface AttemptTarget {
  /** The upstream's name. */
  upstream: string;
  /** The upstream's endpoint (server) it goes to, when the proxy chose one. */
  endpoint?: Endpoint;
  /** The URL: the endpoint's base URL and the operation's path. */
  url: string;
  /** Its headers. */
  headers: Array<[string, string]>;
}

/** One try of one upstream endpoint. */
export class Attempt {
  /** 1 for the first try, 2 for the retry. */
  readonly number: number;
  /** The upstream's name. */
  readonly upstream: string;
  /** The endpoint of the upstream it is sent to (its in-flight count includes this attempt until it is over). */
  readonly endpoint: Endpoint | undefined;
  /** The URL it is sent to. */
  readonly url: string;
  /** `performance.now()` when it was sent. */
  readonly startedAt: number;
  /** The headers it is sent with (shared by the request's attempts until setHeader copies them). */
  headers: Array<[string, string]>;
  /** The upstream's HTTP status, once its answer's head arrived. */
  status: number | undefined;
  /** Why it failed, if it did. */
  failure: FailureKind | undefined;
  /** The failure in words (status, error text), for logs. */
  detail: string | undefined;
  #ownHeaders = false;

  constructor(number: number, target: AttemptTarget) {
    this.number = number;
    this.upstream = target.upstream;
    this.endpoint = target.endpoint;
    this.url = target.url;
    this.headers = target.headers;
    this.startedAt = performance.now();
  }

  /** Sets an outbound header of this attempt only (replacing one of the same lower-case name). */
  setHeader(name: string, value: string): void {
    if (!this.#ownHeaders) {
      this.headers = this.headers.slice();
      this.#ownHeaders = true;
    }
    const at = this.headers.findIndex(([existing]) => existing === name);
    if (at >= 0) this.headers[at] = [name, value];
    else this.headers.push([name, value]);
  }
}

/** What is known about one request, and the emitter of its moments. Fields are filled in as the request goes. */
export class Exchange {
  /** The request id (X-Request-ID): sent upstream, returned, in every log line. */
  readonly requestId: string;
  /** The HTTP method. */
  readonly method: string;
  /** The request path without its query. */
  readonly path: string;
  /** `performance.now()` at arrival. */
  readonly startedAt: number;
  /** The client's request (its headers: `traceparent`, ...). */
  readonly request: Request;
  /** The operation, once the path named one (undefined for /v1/models and the probes). */
  operation: Operation | undefined;
  /** The requested model, once the body was read. */
  model: string | undefined;
  /** The parsed JSON body (not for multipart operations), once read: `max_tokens`, the prompt, ... */
  fields: Record<string, unknown> | undefined;
  /** The API key's name (never the key). */
  key: string | undefined;
  /** The client asked for a stream. */
  stream = false;
  /** The model was routed to upstreams (so its metrics label may be its own). */
  routed = false;
  /** Log at debug level only (the probes). */
  quiet = false;
  /** Upstream attempts made. */
  attempts = 0;
  /** The latest attempt (the one that answered, when one did). */
  attempt: Attempt | undefined;
  /** Streams: milliseconds from arrival to the first body bytes of the answer. */
  firstByteMs: number | undefined;
  /** Input (prompt) tokens from the answer's usage. */
  inputTokens: number | undefined;
  /** Output (completion) tokens from the answer's usage. */
  outputTokens: number | undefined;
  /** The model the answer names (read with its usage; set before `usage` is emitted). */
  responseModel: string | undefined;
  /** The status the client got (499: it left before the end); set by `end`. */
  status = 0;
  /** Why the request failed, for the log line. */
  error: string | undefined;
  /** The request's trace id when traces are on (set by the spans subscriber), for the log lines. */
  traceId: string | undefined;
  /** `start` was emitted. */
  started = false;
  /** `end` was emitted. */
  ended = false;
  /** Subscribers' per-request state (see Slot). */
  slots: unknown[] | undefined;
  readonly #subscribers: Subscribers;

  constructor(
    subscribers: Subscribers,
    request: Request,
    facts: { requestId: string; path: string; startedAt: number },
  ) {
    this.#subscribers = subscribers;
    this.request = request;
    this.method = request.method;
    this.requestId = facts.requestId;
    this.path = facts.path;
    this.startedAt = facts.startedAt;
  }

  /** The upstream of the latest attempt. */
  get upstream(): string | undefined {
    return this.attempt?.upstream;
  }

  /** The client went away before the end. */
  get aborted(): boolean {
    return this.status === 499;
  }

  /**
   * Whether the request produced any output (read it at `end`): the usage's output count when the answer had one;
   * otherwise, for a stream, whether a successful answer's body began; for a whole answer, whether the client got a
   * successful one. A request that failed before any token can have its token reservation refunded.
   */
  get producedTokens(): boolean {
    if (this.outputTokens !== undefined) return this.outputTokens > 0;
    const upstreamStatus = this.attempt?.status;
    if (upstreamStatus === undefined || upstreamStatus >= 400) return false;
    return this.stream ? this.firstByteMs !== undefined : this.status > 0 && this.status < 400;
  }

  /** Emits `start`: operation, model, key and stream are known. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const list = this.#subscribers.start;
    for (let i = 0; i < list.length; i++) list[i].start!(this);
  }

  /** Records and emits a new attempt (and `retry` before it when it is not the first); send `attempt.headers`. */
  beginAttempt(target: AttemptTarget): Attempt {
    const attempt = new Attempt(++this.attempts, target);
    this.attempt = attempt;
    const subscribers = this.#subscribers;
    if (attempt.number > 1) {
      for (let i = 0; i < subscribers.retry.length; i++) subscribers.retry[i].retry!(this, attempt);
    }
    for (let i = 0; i < subscribers.attempt.length; i++) subscribers.attempt[i].attempt!(this, attempt);
    return attempt;
  }

  /** Records and emits that the latest attempt failed. */
  attemptFailed(kind: FailureKind, detail: string): void {
    const attempt = this.attempt!;
    attempt.failure = kind;
    attempt.detail = detail;
    const list = this.#subscribers.attemptFailed;
    for (let i = 0; i < list.length; i++) list[i].attemptFailed!(this, attempt);
  }

  /** Records and emits the arrival of a stream's first body bytes. */
  firstByte(): void {
    if (this.firstByteMs !== undefined) return;
    this.firstByteMs = performance.now() - this.startedAt;
    const list = this.#subscribers.firstByte;
    for (let i = 0; i < list.length; i++) list[i].firstByte!(this);
  }

  /** Records and emits the answer's token counts (either may be unknown). */
  usage(input: number | undefined, output: number | undefined): void {
    this.inputTokens = input;
    this.outputTokens = output;
    const list = this.#subscribers.usage;
    for (let i = 0; i < list.length; i++) list[i].usage!(this);
  }

  /** Ends the request with the status the client got: emits `end` the first time, does nothing after. */
  end(status: number, error?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.status = status;
    this.error = error;
    const list = this.#subscribers.end;
    for (let i = 0; i < list.length; i++) list[i].end!(this);
  }
}
