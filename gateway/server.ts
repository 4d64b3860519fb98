/** The request handler: request id -> auth -> body -> route -> rate limit -> proxy -> response, plus probes. */
import { joinBytes } from "./bytes.ts";
import { Authenticator, type KeyIdentity } from "./auth.ts";
import type { Config } from "./config.ts";
import { errorResponse, HttpError } from "./errors.ts";
import { log, logEnabled } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { ModelCatalog } from "./models.ts";
import { fetchClient, Proxy, type ProxyOutcome, type UpstreamClient } from "./proxy.ts";
import { askForUsage } from "./stream_usage.ts";
import { PoolClient } from "./upstream_pool.ts";
import { MemoryRateLimiter, type RateDecision, type RateLimiter, rateLimitHeaders } from "./rate_limit.ts";
import { RedisRateLimiter } from "./rate_limit_redis.ts";
import { Router } from "./router.ts";
import { UpstreamHealth } from "./upstream_health.ts";

const decoder = new TextDecoder();
const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;
/**
 * The only client headers sent upstream besides the request id (Content-Type is always JSON). Credentials never are; an allow list
 * is also much cheaper than copying and filtering every header.
 */
const FORWARDED_HEADERS = ["accept", "user-agent", "traceparent", "tracestate"];

/** Everything the handler needs; built by createGateway, replaceable in tests. */
export interface GatewayParts {
  config: Config;
  metrics: Metrics;
  limiter: RateLimiter;
  client?: UpstreamClient;
}

/** Per-request facts for metrics and the log line. */
interface RequestInfo {
  requestId: string;
  method: string;
  path: string;
  startedAt: number;
  model?: string;
  /** The model was routed to an upstream (only routed models get a `model` label of their own). */
  routed?: boolean;
  key?: string;
  stream?: boolean;
}

/** The gateway: a Deno.serve handler with readiness and draining state. */
export class Gateway {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly limiter: RateLimiter;
  readonly #auth: Authenticator;
  readonly #router: Router;
  readonly #proxy: Proxy;
  readonly #catalog: ModelCatalog;
  readonly #client: UpstreamClient;
  #draining = false;

  constructor(parts: GatewayParts) {
    const { config, metrics } = parts;
    this.config = config;
    this.metrics = metrics;
    this.limiter = parts.limiter;
    this.#auth = new Authenticator(config.apiKeys, { enabled: config.authEnabled, anonymousRpm: config.rateLimitRpm });
    const health = new UpstreamHealth({
      ejectAfterFailures: config.ejectAfterFailures,
      ejectMs: config.ejectSeconds * 1000,
      onEject: (upstream) => {
        metrics.ejections.labels(upstream).inc();
        log("warn", "upstream ejected after repeated failures", { upstream, seconds: config.ejectSeconds });
      },
    });
    this.#router = new Router(config, { health });
    for (const model of this.#router.policyModels()) metrics.modelLabel(model); // configured: always labelled
    this.#client = parts.client ?? fetchClient;
    this.#proxy = new Proxy({
      upstreams: config.upstreams,
      client: this.#client,
      health,
      firstByteTimeoutMs: config.firstByteTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      hooks: {
        onUpstreamError: (upstream, { kind, requestId, detail }) => {
          metrics.upstreamErrors.labels(upstream, kind).inc();
          log("warn", "upstream attempt failed", { request_id: requestId, upstream, kind, error: detail });
        },
        onRetry: (upstream, { requestId }) => {
          metrics.retries.labels(upstream).inc();
          log("info", "retrying on another upstream", { request_id: requestId, upstream });
        },
      },
    });
    const defaultUpstream = config.defaultUpstream ? config.upstreams.get(config.defaultUpstream) : undefined;
    this.#catalog = new ModelCatalog({ policyModels: this.#router.policyModels(), defaultUpstream });
  }

  /** Ready: not draining, and the limiter can answer (or Redis failures are configured to fail open). */
  ready(): { ready: boolean; reason?: string } {
    if (this.#draining) return { ready: false, reason: "draining" };
    if (!this.limiter.usable() && this.config.rateLimitFail === "closed") {
      return { ready: false, reason: "rate limiter unavailable and GATEWAY_RATE_LIMIT_FAIL=closed" };
    }
    return { ready: true };
  }

  /** Marks the gateway as draining: /ready fails and responses ask clients to close the connection. */
  startDraining(): void {
    this.#draining = true;
  }

  /** Closes the rate limiter's and the upstream client's connections (on shutdown). */
  async close(): Promise<void> {
    await this.limiter.close().catch(() => {});
    this.#client.close?.();
  }

  /** The Deno.serve handler of the metrics listener (GATEWAY_METRICS_PORT): `/metrics` and nothing else. */
  handleMetrics = async (request: Request): Promise<Response> => {
    const path = pathOf(request.url);
    try {
      if (path !== "/metrics") throw new HttpError(404, `Unknown path ${path}.`, { code: "not_found" });
      requireMethod(request, "GET");
      return new Response(await this.metrics.text(), { headers: { "content-type": this.metrics.contentType } });
    } catch (error) {
      return errorResponse(asHttpError(error));
    }
  };

  /** The Deno.serve handler of the API port (the API and the probes; /metrics has its own listener). */
  handle = async (request: Request): Promise<Response> => {
    const startedAt = performance.now();
    const path = pathOf(request.url);
    const incoming = request.headers.get("x-request-id");
    const requestId = incoming !== null && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    const info: RequestInfo = { requestId, method: request.method, path, startedAt };
    const headers = new Headers({ "x-request-id": requestId });
    if (this.#draining) headers.set("connection", "close");
    try {
      switch (path) {
        case "/v1/chat/completions":
          return await this.#completion(request, { info, headers, endpoint: "chat" });
        case "/v1/completions":
          return await this.#completion(request, { info, headers, endpoint: "completions" });
        case "/v1/models":
          return await this.#models(request, { info, headers });
        case "/health":
          requireMethod(request, "GET");
          return this.#probe(info, { status: 200, body: '{"status":"ok"}', headers });
        case "/ready": {
          requireMethod(request, "GET");
          const state = this.ready();
          const body = JSON.stringify(
            state.ready ? { status: "ready" } : { status: "not ready", reason: state.reason },
          );
          return this.#probe(info, { status: state.ready ? 200 : 503, body, headers });
        }
        default:
          throw new HttpError(404, `Unknown path ${path}.`, { code: "not_found" });
      }
    } catch (error) {
      return this.#failed(info, { error, headers });
    }
  };

  #probe(info: RequestInfo, answer: { status: number; body: string; headers: Headers }): Response {
    answer.headers.set("content-type", "application/json");
    this.#logRequest(info, { status: answer.status }, "debug");
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  }

  #failed(info: RequestInfo, ctx: { error: unknown; headers: Headers }): Response {
    const httpError = asHttpError(ctx.error);
    const status = httpError.status;
    // Refused before the request was routed (401, 403, 404, 405, 413, ...): counted with an empty model.
    const model = info.routed ? this.metrics.modelLabel(info.model!) : "";
    this.metrics.requests.labels(model, "", String(status)).inc();
    this.#logRequest(info, { status, error: httpError.message }, status >= 500 ? "error" : "info");
    if (status === 500) log("error", "unexpected error", { request_id: info.requestId, error: String(ctx.error) });
    return errorResponse(httpError, ctx.headers);
  }

  async #models(request: Request, ctx: { info: RequestInfo; headers: Headers }): Promise<Response> {
    requireMethod(request, "GET");
    const identity = this.#auth.authenticate(request.headers);
    ctx.info.key = identity.name;
    const data = await this.#catalog.list(identity.models, ctx.info.requestId);
    ctx.headers.set("content-type", "application/json");
    this.#logRequest(ctx.info, { status: 200 });
    return new Response(JSON.stringify({ object: "list", data }), { headers: ctx.headers });
  }

  async #completion(
    request: Request,
    ctx: { info: RequestInfo; headers: Headers; endpoint: "chat" | "completions" },
  ): Promise<Response> {
    const { info, headers, endpoint } = ctx;
    requireMethod(request, "POST");
    const identity = this.#auth.authenticate(request.headers);
    info.key = identity.name;
    const body = await readBody(request, this.config.maxBodyBytes);
    const parsed = parseCompletion(body, endpoint);
    info.model = parsed.model;
    info.stream = parsed.stream;
    if (identity.models && !identity.models.has(parsed.model)) {
      throw new HttpError(403, `This API key may not use the model '${parsed.model}'.`, {
        code: "model_not_allowed",
        param: "model",
      });
    }
    const order = this.#router.route(parsed.model);
    if (order === undefined) {
      throw new HttpError(404, `The model '${parsed.model}' does not exist or is not served by this gateway.`, {
        code: "model_not_found",
        param: "model",
      });
    }
    info.routed = true;
    await this.#limit(identity, { headers, requestId: info.requestId });

    const upstreamHeaders: Array<[string, string]> = [
      ["x-request-id", info.requestId],
      ["content-type", "application/json"], // the body parsed as JSON, whatever the client declared (curl -d: a form)
    ];
    for (const name of FORWARDED_HEADERS) {
      const value = request.headers.get(name);
      if (value !== null) upstreamHeaders.push([name, value]);
    }

    // Streams: the upstream is always asked for usage (exact token counts); what the client did not ask for is
    // taken out of the answer again.
    const usage = parsed.stream ? askForUsage(body, parsed.fields) : undefined;

    const metrics = this.metrics;
    metrics.inFlight.inc();
    metrics.overhead.observe((performance.now() - info.startedAt) / 1000);
    return await this.#proxy.forward({
      requestId: info.requestId,
      endpoint,
      body: usage?.body ?? body,
      headers: upstreamHeaders,
      clientSignal: request.signal,
      stream: parsed.stream,
      stripUsage: usage?.strip ?? false,
      order,
      startedAt: info.startedAt,
      responseHeaders: headers,
      onDone: (outcome) => this.#completionDone(info, outcome),
    });
  }

  #completionDone(info: RequestInfo, outcome: ProxyOutcome): void {
    const metrics = this.metrics;
    metrics.inFlight.dec();
    // A 404 is the upstream not knowing the model (a typo on the default upstream): no label of its own.
    const model = metrics.modelLabel(info.model!, outcome.status !== 404);
    const upstream = outcome.upstream ?? "";
    metrics.requests.labels(model, upstream, String(outcome.status)).inc();
    metrics.duration.labels(model, upstream).observe((performance.now() - info.startedAt) / 1000);
    if (info.stream && outcome.ttftMs !== undefined) {
      metrics.ttft.labels(model, upstream).observe(outcome.ttftMs / 1000);
    }
    if (outcome.promptTokens) metrics.tokens.labels(model, upstream, "prompt").inc(outcome.promptTokens);
    if (outcome.completionTokens) metrics.tokens.labels(model, upstream, "completion").inc(outcome.completionTokens);
    this.#logRequest(info, outcome, outcome.status >= 500 ? "warn" : "info");
  }

  async #limit(identity: KeyIdentity, ctx: { headers: Headers; requestId: string }): Promise<void> {
    if (identity.rpm <= 0) return;
    let decision: RateDecision;
    try {
      const answer = this.limiter.check(identity.name, identity.rpm);
      decision = answer instanceof Promise ? await answer : answer; // the in-memory limiter answers at once
    } catch (error) {
      this.metrics.redisErrors.inc();
      logRedisError(error, { failMode: this.config.rateLimitFail, requestId: ctx.requestId });
      if (this.config.rateLimitFail === "open") return;
      throw new HttpError(503, "Rate limiting is unavailable; try again shortly.", {
        code: "rate_limiter_unavailable",
        headers: { "retry-after": "1" },
      });
    }
    rateLimitHeaders(decision, ctx.headers);
    if (!decision.allowed) {
      this.metrics.rateLimited.labels(identity.name).inc();
      throw new HttpError(429, `Rate limit reached: ${decision.limit} requests per minute for this key.`, {
        code: "rate_limit_exceeded",
      });
    }
  }

  #logRequest(
    info: RequestInfo,
    result: Partial<ProxyOutcome> & { status: number },
    level: "debug" | "info" | "warn" | "error" = "info",
  ): void {
    if (!logEnabled(level)) return;
    log(level, "request", {
      request_id: info.requestId,
      method: info.method,
      path: info.path,
      model: info.model,
      key: info.key,
      stream: info.stream,
      upstream: result.upstream,
      status: result.status,
      attempts: result.attempts,
      duration_ms: Math.round((performance.now() - info.startedAt) * 100) / 100,
      ttft_ms: result.ttftMs === undefined ? undefined : Math.round(result.ttftMs * 100) / 100,
      prompt_tokens: result.promptTokens,
      completion_tokens: result.completionTokens,
      aborted: result.aborted || undefined,
      error: result.error,
    });
  }
}

let lastRedisLog = -Infinity;

/** Logs a Redis failure at most once per second (each failed call is counted in nexus_redis_errors_total). */
function logRedisError(error: unknown, ctx: { failMode: string; requestId?: string }): void {
  const now = performance.now();
  if (now - lastRedisLog < 1000) return;
  lastRedisLog = now;
  log("warn", "redis rate limiter failed", {
    request_id: ctx.requestId,
    error: error instanceof Error ? error.message : String(error),
    fail_mode: ctx.failMode,
  });
}

/**
 * Builds the gateway from a config: metrics, the Redis or in-memory limiter, the upstream client (the pooled one
 * unless GATEWAY_UPSTREAM_CLIENT=fetch or `options.client` is given), routing, proxy.
 */
export function createGateway(config: Config, options: { client?: UpstreamClient } = {}): Gateway {
  const limiter: RateLimiter = config.redisUrl
    ? new RedisRateLimiter(config.redisUrl, {
      timeoutMs: config.redisTimeoutMs,
      onError: (error) => logRedisError(error, { failMode: config.rateLimitFail }),
    })
    : new MemoryRateLimiter();
  const metrics = new Metrics();
  const client = options.client ?? (config.upstreamClient === "pool"
    ? new PoolClient({
      maxConnectionsPerOrigin: config.upstreamMaxConnections,
      onWait: (origin, waiting) => metrics.connectionWait(origin, waiting),
    })
    : fetchClient);
  return new Gateway({ config, metrics, limiter, client });
}

/** The path of a request URL without the query, without building a URL object. */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

/** The error as the client sees it: itself when it is an HttpError, else a 500 that keeps it as the cause. */
function asHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  return new HttpError(500, "Internal gateway error.", { code: "internal_error", cause: error });
}

/** Throws a 405 unless the request uses `method` (HEAD counts as GET). */
function requireMethod(request: Request, method: "GET" | "POST"): void {
  if (request.method === method || (method === "GET" && request.method === "HEAD")) return;
  const allow = method === "GET" ? "GET, HEAD" : method;
  throw new HttpError(405, `Method ${request.method} is not allowed here; use ${method}.`, {
    code: "method_not_allowed",
    headers: { allow },
  });
}

/** Reads the request body, refusing more than `limit` bytes (declared or actually sent) with a 413. */
export async function readBody(request: Request, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () =>
    new HttpError(413, `Request body is larger than the limit of ${limit} bytes.`, { code: "request_too_large" });
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge();
  if (request.body === null) return new Uint8Array(0);
  if (declared !== null) return await request.bytes();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  return joinBytes(chunks, size);
}

/** The fields the gateway needs from a completion request, validated. */
export function parseCompletion(
  body: Uint8Array,
  endpoint: "chat" | "completions",
): { model: string; stream: boolean; fields: Record<string, unknown> } {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch (error) {
    throw new HttpError(400, `Request body is not valid JSON: ${(error as Error).message}`, { code: "invalid_json" });
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new HttpError(400, "Request body must be a JSON object.", { code: "invalid_json" });
  }
  const fields = json as Record<string, unknown>;
  if (typeof fields.model !== "string" || fields.model === "") {
    throw new HttpError(400, "You must provide a model parameter.", {
      code: "missing_required_parameter",
      param: "model",
    });
  }
  const required = endpoint === "chat" ? "messages" : "prompt";
  const value = fields[required];
  const ok = endpoint === "chat" ? Array.isArray(value) && value.length > 0 : value !== undefined && value !== null;
  if (!ok) {
    throw new HttpError(400, `You must provide a non-empty '${required}' parameter.`, {
      code: "missing_required_parameter",
      param: required,
    });
  }
  return { model: fields.model, stream: fields.stream === true, fields };
}
