/**
 * The mock worker's HTTP routes: the OpenAI API (and vLLM's rerank, score, tokenize) under WORKER_BASE_PATH, plus
 * /health and /metrics.
 */

import { Completions } from "./completion.ts";
import { type CompletionKind, readCompletionRequest } from "./completion_request.ts";
import type { WorkerConfig } from "./config.ts";
import { embeddings } from "./embeddings.ts";
import { errorResponse, WorkerError } from "./errors.ts";
import { log } from "./log.ts";
import type { WorkerMetrics } from "./metrics.ts";
import { rerank, score } from "./scoring.ts";
import { detokenize, tokenize } from "./tokenize.ts";
import { transcribe } from "./transcription.ts";

type Handler = (request: Request) => Response | Promise<Response>;
type Route = Partial<Record<"GET" | "POST", Handler>>;

/** Path and query-free pathname of a request URL, without allocating a URL object. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

/** Builds the request handler of a worker; metrics are shared with /metrics. */
export function createHandler(config: WorkerConfig, metrics: WorkerMetrics): Handler {
  const completions = new Completions(config, metrics);
  const base = config.basePath;
  const api = `${base}/v1/`;
  const models = JSON.stringify({
    object: "list",
    data: [{ id: config.model, object: "model", created: Math.floor(Date.now() / 1000), owned_by: "nexus" }],
  });
  const completion = (kind: CompletionKind): Handler => async (request) =>
    completions.respond(await readCompletionRequest(request, kind), request.signal);

  const routes = new Map<string, Route>([
    ["/health", { GET: () => Response.json({ status: "ok" }) }],
    ["/metrics", {
      GET: async () =>
        new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } }),
    }],
    [`${api}models`, { GET: () => new Response(models, { headers: { "content-type": "application/json" } }) }],
    [`${api}chat/completions`, { POST: completion("chat") }],
    [`${api}completions`, { POST: completion("text") }],
    [`${api}responses`, { POST: completion("responses") }],
    [`${api}embeddings`, { POST: (request) => embeddings(request, { dimensions: config.embeddingDim }) }],
    [`${api}rerank`, { POST: rerank }],
    [`${base}/v2/rerank`, { POST: rerank }],
    [`${api}score`, { POST: score }],
    [`${base}/tokenize`, { POST: tokenize }],
    [`${base}/detokenize`, { POST: detokenize }],
    [`${api}audio/transcriptions`, { POST: (request) => transcribe(request, "transcribe") }],
    [`${api}audio/translations`, { POST: (request) => transcribe(request, "translate") }],
  ]);
  /** Paths that WORKER_FAIL_STATUS does not fail. */
  const alwaysServed = new Set(["/health", "/metrics"]);
  const failure = config.failStatus === undefined ? undefined : new WorkerError(
    config.failStatus,
    `The mock worker is configured to fail every request (WORKER_FAIL_STATUS=${config.failStatus}).`,
    { code: "mock_failure" },
  );

  const handle: Handler = async (request) => {
    const path = pathOf(request.url);
    try {
      if (failure && !alwaysServed.has(path)) throw failure;
      const route = routes.get(path);
      if (!route) {
        throw new WorkerError(404, `Unknown path: ${request.method} ${path}`, { code: "unknown_url" });
      }
      const handler = route[request.method as keyof Route];
      if (!handler) {
        const allow = Object.keys(route).join(", ");
        throw new WorkerError(405, `Method ${request.method} is not allowed on ${path} (allowed: ${allow}).`, {
          code: "method_not_allowed",
          headers: { allow },
        });
      }
      return await handler(request);
    } catch (error) {
      if (error instanceof WorkerError) return errorResponse(error);
      log("error", "unhandled error", { path, error: String(error) });
      return errorResponse(new WorkerError(500, "Internal error in the mock worker.", { code: "internal_error" }));
    }
  };
  return config.logRequests ? withRequestLog(handle) : handle;
}

const AUTH_HEADERS = ["authorization", "x-api-key"];

/** Wraps a handler so each request leaves one log line (for tests of what a gateway forwards). */
function withRequestLog(handle: Handler): Handler {
  return async (request) => {
    const response = await handle(request);
    log("info", "request", {
      method: request.method,
      path: pathOf(request.url),
      status: response.status,
      request_id: request.headers.get("x-request-id"),
      auth_headers: AUTH_HEADERS.filter((name) => request.headers.has(name)),
    });
    return response;
  };
}
