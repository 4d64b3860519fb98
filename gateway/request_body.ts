/** Reading a request body under the size limit, and the facts the gateway needs from it: model, stream, JSON members. */
import { joinBytes } from "./bytes.ts";
import { HttpError } from "./errors.ts";
import { formBoundary, formField } from "./multipart.ts";
import type { Operation } from "./operations.ts";

const decoder = new TextDecoder();

/** What the gateway reads from a request body. */
export interface RequestFacts {
  /** The requested model. */
  model: string;
  /** The client asked for a stream (streamable operations only). */
  stream: boolean;
  /** The JSON body's members; undefined for a multipart body. */
  fields: Record<string, unknown> | undefined;
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

/** The facts of a body for `operation`: from its JSON, or from its multipart form (`contentType` has the boundary). */
export function requestFacts(
  body: Uint8Array,
  ctx: { operation: Operation; contentType: string | null },
): RequestFacts {
  return ctx.operation.modelIn === "form" ? formFacts(body, ctx.contentType) : jsonFacts(body, ctx.operation);
}

/** The facts of a JSON body: a JSON object with a non-empty string `model` and the operation's required member. */
export function jsonFacts(body: Uint8Array, operation: Operation): RequestFacts {
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
  if (typeof fields.model !== "string" || fields.model === "") throw missingModel();
  const required = operation.requires;
  if (required !== undefined) {
    const value = fields[required.member];
    const ok = required.list ? Array.isArray(value) && value.length > 0 : value !== undefined && value !== null;
    if (!ok) {
      throw new HttpError(400, `You must provide a non-empty '${required.member}' parameter.`, {
        code: "missing_required_parameter",
        param: required.member,
      });
    }
  }
  return { model: fields.model, stream: operation.streamable && fields.stream === true, fields };
}

/** The facts of a multipart/form-data body: its `model` field, read without copying the upload. */
export function formFacts(body: Uint8Array, contentType: string | null): RequestFacts {
  const boundary = formBoundary(contentType);
  if (boundary === undefined) {
    throw new HttpError(400, "Request body must be multipart/form-data (with a boundary).", {
      code: "invalid_content_type",
    });
  }
  const model = formField(body, { boundary, name: "model" });
  if (model === undefined || model === "") throw missingModel();
  return { model, stream: false, fields: undefined };
}

function missingModel(): HttpError {
  return new HttpError(400, "You must provide a model parameter.", {
    code: "missing_required_parameter",
    param: "model",
  });
}
