/** The gateway's error model: one error class for everything a client can cause, one OpenAI-shaped response. */
import { ResponseHeaders } from "./response_headers.ts";

/** OpenAI error `type` values the gateway uses. */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "rate_limit_error"
  | "server_error";

/** Options of an HttpError besides status and message. */
export interface HttpErrorOptions {
  /** OpenAI error `type`; derived from the status when absent. */
  type?: ErrorType;
  /** Machine-readable code, e.g. `model_not_found`. */
  code?: string | null;
  /** The request field at fault, e.g. `model`. */
  param?: string | null;
  /** Extra response headers (Retry-After, x-ratelimit-*). */
  headers?: Record<string, string>;
  /** The underlying error, for logs only. */
  cause?: unknown;
}

function typeForStatus(status: number): ErrorType {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/** An error a client sees as an HTTP status with an OpenAI-style body. */
export class HttpError extends Error {
  /** HTTP status code. */
  readonly status: number;
  /** OpenAI error type. */
  readonly type: ErrorType;
  /** OpenAI error code. */
  readonly code: string | null;
  /** Offending request field. */
  readonly param: string | null;
  /** Extra response headers. */
  readonly headers: Record<string, string> | undefined;

  constructor(status: number, message: string, options: HttpErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "HttpError";
    this.status = status;
    this.type = options.type ?? typeForStatus(status);
    this.code = options.code ?? null;
    this.param = options.param ?? null;
    this.headers = options.headers;
  }
}

/** The OpenAI-shaped JSON body of an error. */
function errorBody(error: HttpError): string {
  return JSON.stringify({
    error: { message: error.message, type: error.type, param: error.param, code: error.code },
  });
}

/** Turns an HttpError into a Response, adding the given headers (request id, upstream name). */
export function errorResponse(error: HttpError, headers: ResponseHeaders = new ResponseHeaders()): Response {
  headers.set("content-type", "application/json");
  if (error.headers) { for (const name in error.headers) headers.set(name.toLowerCase(), error.headers[name]); }
  return new Response(errorBody(error), { status: error.status, headers: headers.pairs });
}

/** An HttpError as a server-sent event, for a stream that already started: `data: {"error":...}`. */
export function errorEvent(error: HttpError): string {
  return `data: ${errorBody(error)}\n\n`;
}

const upstreamDecoder = new TextDecoder();

/**
 * An upstream's error body in OpenAI's shape: passed through when it already is one, vLLM's flat
 * `{"object":"error","message",...}` nested under `error`, anything else (a proxy's HTML page, plain text) wrapped
 * in an error that names the upstream and quotes the start of the text.
 */
export function upstreamErrorBody(body: Uint8Array, ctx: { status: number; upstream: string }): string {
  const text = upstreamDecoder.decode(body);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON: wrapped below */ }
  const fields = json !== null && typeof json === "object" ? json as Record<string, unknown> : {};
  const inner = fields.error !== null && typeof fields.error === "object"
    ? fields.error as Record<string, unknown>
    : fields.object === "error"
    ? fields
    : undefined;
  if (inner && typeof inner.message === "string") {
    if (inner === fields.error && "type" in inner && "param" in inner && "code" in inner) return text;
    return JSON.stringify({
      error: {
        message: inner.message,
        type: typeof inner.type === "string" ? inner.type : typeForStatus(ctx.status),
        param: typeof inner.param === "string" ? inner.param : null,
        code: typeof inner.code === "string" || typeof inner.code === "number" ? String(inner.code) : null,
      },
    });
  }
  const excerpt = text.trim().slice(0, 200);
  return errorBody(
    new HttpError(ctx.status, `Upstream "${ctx.upstream}" answered ${ctx.status}${excerpt ? `: ${excerpt}` : "."}`, {
      code: "upstream_error",
    }),
  );
}
