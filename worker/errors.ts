/** The mock worker's error model: one error class and the one function that turns it into an OpenAI-style response. */

/** Something a client caused (or a configured failure), with the HTTP status and OpenAI error fields to answer. */
export class WorkerError extends Error {
  override name = "WorkerError";
  /** HTTP status to answer. */
  readonly status: number;
  /** OpenAI error `type`. */
  readonly type: string;
  /** OpenAI error `code`. */
  readonly code: string | null;
  /** The request field at fault, if any. */
  readonly param: string | null;
  /** Extra response headers (e.g. Allow for 405). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    options: { type?: string; code?: string; param?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = status;
    this.type = options.type ?? (status >= 500 ? "server_error" : "invalid_request_error");
    this.code = options.code ?? null;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
  }
}

/** The OpenAI-shaped JSON response for an error: `{"error":{"message","type","param","code"}}`. */
export function errorResponse(error: WorkerError): Response {
  const body = { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
  return Response.json(body, { status: error.status, headers: error.headers });
}
