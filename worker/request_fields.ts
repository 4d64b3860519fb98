/** Reading a JSON request body and checking its common members; every fault is a 400 WorkerError naming the member. */

import { WorkerError } from "./errors.ts";

/** A 400 naming the request member at fault. */
export function invalid(message: string, param: string, code = "invalid_value"): WorkerError {
  return new WorkerError(400, message, { param, code });
}

/** The body as a JSON object; a 400 when it is not JSON or not an object. */
export async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new WorkerError(400, "The request body is not valid JSON.", { code: "invalid_json" });
  }
  return jsonObject(body);
}

/** A parsed body as an object; a 400 when it is not one. */
export function jsonObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new WorkerError(400, "The request body must be a JSON object.", { code: "invalid_json" });
  }
  return body as Record<string, unknown>;
}

/** The required `model` (a non-empty string). */
export function requiredModel(fields: Record<string, unknown>): string {
  const model = fields.model;
  if (model === undefined || model === null) {
    throw invalid("you must provide a model parameter", "model", "missing_required_parameter");
  }
  if (typeof model !== "string" || model === "") throw invalid("model must be a non-empty string", "model");
  return model;
}

/** An optional positive integer member. */
export function optionalCount(value: unknown, param: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw invalid(`${param} must be a positive integer`, param);
  }
  return value;
}

/** An optional boolean member. */
export function optionalBoolean(value: unknown, param: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalid(`${param} must be a boolean`, param);
  return value;
}

/** A member that is a string or a non-empty list of strings, as a list. */
export function textList(value: unknown, param: string): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === "string")) return value;
  if (value === undefined || value === null) {
    throw invalid(`you must provide a ${param} parameter`, param, "missing_required_parameter");
  }
  throw invalid(`${param} must be a string or a non-empty list of strings`, param);
}
