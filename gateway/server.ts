/**
 * The request handler: request id -> operation (gateway/operations.ts) -> auth -> body -> route -> rate limit ->
 * proxy -> response, plus /v1/models and the probes. Each request's moments go to its Exchange (request_lifecycle.ts),
 * whose subscribers keep the metrics and write the log line.
 */
import { Authenticator, type KeyIdentity } from "./auth.ts";
import type { Config } from "./config.ts";
import { errorResponse, HttpError } from "./errors.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { ModelCatalog } from "./models.ts";
import type { KubeApi } from "./kube_api.ts";
import { type Operation, OPERATIONS_BY_PATH } from "./operations.ts";
import { Proxy } from "./proxy.ts";
import { readBody, requestFacts } from "./request_body.ts";
import { type Exchange, Lifecycle, type LifecycleSubscriber } from "./request_lifecycle.ts";
import { RequestLog } from "./request_log.ts";
import { RequestMetrics } from "./request_metrics.ts";
import { ResponseHeaders } from "./response_headers.ts";
import { askForUsage } from "./stream_usage.ts";
import { fetchClient, type UpstreamClient } from "./upstream_client.ts";
import { PoolClient } from "./upstream_pool.ts";
import { type LimitDecision, MemoryRateLimiter, type RateLimiter, rateLimitHeaders } from "./rate_limit.ts";
import { RedisRateLimiter } from "./rate_limit_redis.ts";
import { Router } from "./router.ts";
import { endpointRelease, UpstreamEndpoints, type UpstreamTarget } from "./upstream_endpoints.ts";
import { reserveTokens, smallestTokenBudget, TokenBudgets, tooLargeError } from "./token_budget.ts";

const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;
/**
 * The only client headers sent upstream besides the request id and Content-Type (JSON bodies: always JSON; multipart
 * bodies: the client's, which names the boundary). Credentials never are; an allow list is also much cheaper than
 * copying and filtering every header.
 */
const FORWARDED_HEADERS = ["accept", "user-agent", "traceparent", "tracestate"];

/** Everything the handler needs; built by createGateway, replaceable in tests. */
export interface GatewayParts {
  config: Config;
  metrics: Metrics;
  limiter: RateLimiter;
  client?: UpstreamClient;
  /** The API server for GATEWAY_DISCOVERY (default: the pod's in-cluster access). */
  kubeApi?: () => KubeApi;
  /** Lifecycle subscribers besides the metrics and the log line (token budgets, traces, tests). */
  subscribers?: LifecycleSubscriber[];
}

/** The gateway: a Deno.serve handler with readiness and draining state. */
export class Gateway {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly limiter: RateLimiter;
  /** Every upstream's endpoints, pickers, load scraping and discovery. */
  readonly upstreams: UpstreamEndpoints;
  readonly #auth: Authenticator;
  readonly #router: Router<UpstreamTarget>;
  readonly #proxy: Proxy;
  readonly #catalog: ModelCatalog;
  readonly #client: UpstreamClient;
  readonly #lifecycle = new Lifecycle();
  readonly #budgets: TokenBudgets;
  readonly #sessionHeader: string | undefined;
  #draining = false;

  constructor(parts: GatewayParts) {
    const { config, metrics } = parts;
    this.config = config;
    this.metrics = metrics;
    this.limiter = parts.limiter;
    const anonymous = {
      rpm: config.rateLimitRpm,
      tpm: config.rateLimitTpm,
      tokensPerDay: config.rateLimitTokensPerDay,
    };
    this.#auth = new Authenticator(config.apiKeys, { enabled: config.authEnabled, anonymous });
    // The caller's subscribers first: spans open before the log lines that carry their trace id are written.
    for (const subscriber of parts.subscribers ?? []) this.#lifecycle.subscribe(subscriber);
    this.#lifecycle.subscribe(new RequestMetrics(metrics));
    this.#lifecycle.subscribe(new RequestLog());
    this.#lifecycle.subscribe(endpointRelease);
    this.#budgets = new TokenBudgets(this.limiter, {
      onError: (error, exchange) => {
        metrics.redisErrors.inc();
        logRedisError(error, { failMode: config.rateLimitFail, requestId: exchange.requestId });
      },
    });
    const keys = config.authEnabled ? config.apiKeys : [anonymous];
    // Settling reservations at `end` only when some key has a token budget: others cost nothing.
    if (keys.some((k) => k.tpm > 0 || k.tokensPerDay > 0)) this.#lifecycle.subscribe(this.#budgets);
    const upstreams = this.upstreams = new UpstreamEndpoints(config, { metrics, kubeApi: parts.kubeApi });
    this.#router = new Router(config, { target: (name, picker) => upstreams.target(name, picker) });
    for (const model of this.#router.policyModels()) metrics.modelLabel(model); // configured: always labelled
    this.#sessionHeader = config.routing.sessionHeader;
    this.#client = parts.client ?? fetchClient;
    this.#proxy = new Proxy({
      client: this.#client,
      firstByteTimeoutMs: config.firstByteTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
    });
    this.#catalog = new ModelCatalog({
      policyModels: this.#router.policyModels(),
      upstreams: [...config.upstreams.values()],
    });
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

  /** Starts what runs beside the requests: load scraping of the endpoints and their discovery in Kubernetes. */
  start(): void {
    this.upstreams.start();
  }

  /** Stops scraping and discovery; closes the rate limiter's and the upstream client's connections (on shutdown). */
  async close(): Promise<void> {
    await this.upstreams.stop();
    await this.limiter.close().catch(() => {});
    this.#client.close?.();
  }

  /**
   * The Deno.serve handler of the metrics listener (GATEWAY_METRICS_PORT): `/metrics`, and `/debug/endpoints` (every
   * upstream's endpoints: ready or ejected, in flight, last scraped load).
   */
  handleMetrics = async (request: Request): Promise<Response> => {
    const path = pathOf(request.url);
    try {
      if (path === "/debug/endpoints") {
        requireMethod(request, "GET");
        const body = JSON.stringify({ upstreams: this.upstreams.describe() }, null, 2);
        return new Response(body, { headers: [["content-type", "application/json"]] });
      }
      if (path !== "/metrics") throw new HttpError(404, `Unknown path ${path}.`, { code: "not_found" });
      requireMethod(request, "GET");
      return new Response(await this.metrics.text(), { headers: [["content-type", this.metrics.contentType]] });
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
    const exchange = this.#lifecycle.begin(request, { requestId, path, startedAt });
    const headers = new ResponseHeaders([["x-request-id", requestId]]);
    if (this.#draining) headers.set("connection", "close");
    try {
      const operation = OPERATIONS_BY_PATH.get(path);
      if (operation !== undefined) return await this.#forward(request, { exchange, headers, operation });
      switch (path) {
        case "/v1/models":
          return await this.#models(request, { exchange, headers });
        case "/health":
          requireMethod(request, "GET");
          return this.#probe(exchange, { status: 200, body: '{"status":"ok"}', headers });
        case "/ready": {
          requireMethod(request, "GET");
          const state = this.ready();
          const body = JSON.stringify(
            state.ready ? { status: "ready" } : { status: "not ready", reason: state.reason },
          );
          return this.#probe(exchange, { status: state.ready ? 200 : 503, body, headers });
        }
        default:
          throw new HttpError(404, `Unknown path ${path}.`, { code: "not_found" });
      }
    } catch (error) {
      return this.#failed(exchange, { error, headers });
    }
  };

  #probe(exchange: Exchange, answer: { status: number; body: string; headers: ResponseHeaders }): Response {
    answer.headers.set("content-type", "application/json");
    exchange.quiet = true;
    exchange.end(answer.status);
    return new Response(answer.body, { status: answer.status, headers: answer.headers.pairs });
  }

  /** A request the gateway itself refused or failed: ends its exchange, answers the error. */
  #failed(exchange: Exchange, ctx: { error: unknown; headers: ResponseHeaders }): Response {
    const httpError = asHttpError(ctx.error);
    exchange.end(httpError.status, httpError.message);
    if (httpError.status === 500) {
      log("error", "unexpected error", { request_id: exchange.requestId, error: String(ctx.error) });
    }
    return errorResponse(httpError, ctx.headers);
  }

  async #models(request: Request, ctx: { exchange: Exchange; headers: ResponseHeaders }): Promise<Response> {
    const { exchange, headers } = ctx;
    requireMethod(request, "GET");
    const identity = this.#auth.authenticate(request.headers);
    exchange.key = identity.name;
    const data = await this.#catalog.list(identity.models, exchange.requestId);
    headers.set("content-type", "application/json");
    exchange.end(200);
    return new Response(JSON.stringify({ object: "list", data }), { headers: headers.pairs });
  }

  /** An API operation: checked, routed, admitted, then forwarded (the proxy ends its exchange). */
  async #forward(
    request: Request,
    ctx: { exchange: Exchange; headers: ResponseHeaders; operation: Operation },
  ): Promise<Response> {
    const { exchange, headers, operation } = ctx;
    exchange.operation = operation;
    requireMethod(request, "POST");
    const identity = this.#auth.authenticate(request.headers);
    exchange.key = identity.name;
    const body = await readBody(request, this.config.maxBodyBytes);
    const contentType = operation.modelIn === "form" ? request.headers.get("content-type") : null;
    const facts = requestFacts(body, { operation, contentType });
    const model = facts.model;
    exchange.model = model;
    exchange.stream = facts.stream;
    exchange.fields = facts.fields;
    exchange.start();
    if (identity.models && !identity.models.has(model)) {
      throw new HttpError(403, `This API key may not use the model '${model}'.`, {
        code: "model_not_allowed",
        param: "model",
      });
    }
    const order = this.#router.route(model);
    if (order === undefined) {
      throw new HttpError(404, `The model '${model}' does not exist or is not served by this gateway.`, {
        code: "model_not_found",
        param: "model",
      });
    }
    exchange.routed = true;
    await this.#limit(identity, { headers, exchange, bodyBytes: body.byteLength });

    const upstreamHeaders: Array<[string, string]> = [
      ["x-request-id", exchange.requestId],
      // JSON bodies were parsed as JSON, whatever the client declared (curl -d: a form); multipart keeps its boundary.
      ["content-type", contentType ?? "application/json"],
    ];
    for (const name of FORWARDED_HEADERS) {
      const value = request.headers.get(name);
      if (value !== null) upstreamHeaders.push([name, value]);
    }
    // Chat and completion streams: the upstream is always asked for usage (exact token counts); what the client did
    // not ask for is taken out of the answer again.
    const usage = facts.stream && operation.askStreamUsage ? askForUsage(body, facts.fields!) : undefined;
    return await this.#proxy.forward({
      exchange,
      body: usage?.body ?? body,
      headers: upstreamHeaders,
      clientSignal: request.signal,
      stripUsage: usage?.strip ?? false,
      order,
      session: this.#sessionHeader === undefined ? undefined : request.headers.get(this.#sessionHeader),
      responseHeaders: headers,
    });
  }

  /**
   * Admits the request against its key's budgets in one limiter call: one request, plus the tokens it reserves when
   * the key has a token budget and the operation counts tokens. The reservation is settled at `end` (TokenBudgets).
   */
  async #limit(
    identity: KeyIdentity,
    ctx: { headers: ResponseHeaders; exchange: Exchange; bodyBytes: number },
  ): Promise<void> {
    const { exchange } = ctx;
    const cost = exchange.operation!.tokenCost;
    const reserves = identity.tokenBudget && cost !== undefined;
    let tokens = 0;
    if (reserves) {
      const budget = smallestTokenBudget(identity);
      const reservation = reserveTokens(cost, {
        bodyBytes: ctx.bodyBytes,
        fields: exchange.fields,
        defaultMaxTokens: this.config.rateLimitDefaultMaxTokens,
        budget,
      });
      if (reservation.total > budget) {
        this.metrics.rateLimited.labels(identity.name, budget === identity.tpm ? "tokens" : "tokens_per_day").inc();
        throw tooLargeError(reservation, identity);
      }
      tokens = reservation.total;
    } else if (identity.rpm <= 0) return;
    let decision: LimitDecision;
    try {
      const answer = this.limiter.admit(identity, tokens);
      decision = answer instanceof Promise ? await answer : answer; // the in-memory limiter answers at once
    } catch (error) {
      this.metrics.redisErrors.inc();
      logRedisError(error, { failMode: this.config.rateLimitFail, requestId: exchange.requestId });
      if (this.config.rateLimitFail === "open") return;
      throw new HttpError(503, "Rate limiting is unavailable; try again shortly.", {
        code: "rate_limiter_unavailable",
        headers: { "retry-after": "1" },
      });
    }
    rateLimitHeaders(decision, ctx.headers);
    if (!decision.allowed) {
      const refusal = refusalOf(decision, tokens);
      this.metrics.rateLimited.labels(identity.name, refusal.limit).inc();
      throw new HttpError(429, refusal.message, { code: "rate_limit_exceeded" });
    }
    if (reserves) this.#budgets.hold(exchange, { key: identity, tokens });
  }
}

/** Which budget refused a request (the first that did), for the metric's label and the error message. */
function refusalOf(decision: LimitDecision, tokens: number): { limit: string; message: string } {
  const { requests, tokens: perMinute, tokensPerDay } = decision;
  if (requests !== undefined && !requests.allowed) {
    return {
      limit: "requests",
      message: `Rate limit reached: ${requests.limit} requests per minute for this key.`,
    };
  }
  const perDay = perMinute === undefined || perMinute.allowed;
  const state = perDay ? tokensPerDay! : perMinute;
  return {
    limit: perDay ? "tokens_per_day" : "tokens",
    message: `Rate limit reached: ${state.limit} tokens per ${perDay ? "day" : "minute"} for this key; ` +
      `this request reserves ${tokens} tokens and ${state.remaining} are left.`,
  };
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
 * unless GATEWAY_UPSTREAM_CLIENT=fetch or `options.client` is given), routing, proxy, and `options.subscribers` to
 * each request's lifecycle.
 */
export function createGateway(
  config: Config,
  options: { client?: UpstreamClient; subscribers?: LifecycleSubscriber[] } = {},
): Gateway {
  const metrics = new Metrics();
  const limiter: RateLimiter = config.redisUrl
    ? new RedisRateLimiter(config.redisUrl, {
      timeoutMs: config.redisTimeoutMs,
      leaseMs: config.rateLimitLeaseMs,
      // Connection errors and lease renewals or returns that failed: no request sees them, so count them here.
      onError: (error) => {
        metrics.redisErrors.inc();
        logRedisError(error, { failMode: config.rateLimitFail });
      },
    })
    : new MemoryRateLimiter();
  const client = options.client ?? (config.upstreamClient === "pool"
    ? new PoolClient({
      maxConnectionsPerOrigin: config.upstreamMaxConnections,
      onWait: (origin, waiting) => metrics.connectionWait(origin, waiting),
    })
    : fetchClient);
  return new Gateway({ config, metrics, limiter, client, subscribers: options.subscribers });
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
