/**
 * `POST /v1/embeddings`: a deterministic unit vector per input (seeded by the input's text), WORKER_EMBEDDING_DIM long
 * unless the request asks for `dimensions`; `encoding_format: "base64"` gives little-endian float32s in base64, as
 * OpenAI does (its clients ask for it by default).
 */

import { listResponse } from "./answer.ts";
import { invalid, optionalCount, readJsonObject, requiredModel } from "./request_fields.ts";
import { countTokens, hashText } from "./text.ts";

/** The vector of a text: xorshift32 numbers in [-1, 1) seeded by its hash, scaled to length 1. */
export function embeddingOf(text: string, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  let state = hashText(text) || 1;
  let sumSquares = 0;
  for (let i = 0; i < dimensions; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const value = (state >>> 0) / 0x80000000 - 1;
    vector[i] = value;
    sumSquares += value * value;
  }
  const norm = Math.sqrt(sumSquares) || 1;
  for (let i = 0; i < dimensions; i++) vector[i] /= norm;
  return vector;
}

/** The inputs as texts with their token counts: a text, texts, token ids, or lists of token ids. */
function inputsOf(input: unknown): Array<{ text: string; tokens: number }> {
  if (typeof input === "string") return [{ text: input, tokens: countTokens(input) }];
  if (Array.isArray(input) && input.length > 0) {
    if (input.every((item) => typeof item === "string")) {
      return input.map((text) => ({ text, tokens: countTokens(text) }));
    }
    if (input.every((item) => Number.isInteger(item))) return [{ text: input.join(" "), tokens: input.length }];
    if (input.every((item) => Array.isArray(item) && item.length > 0 && item.every(Number.isInteger))) {
      return input.map((ids: number[]) => ({ text: ids.join(" "), tokens: ids.length }));
    }
  }
  if (input === undefined || input === null) {
    throw invalid("you must provide an input parameter", "input", "missing_required_parameter");
  }
  throw invalid("input must be a string, a list of strings, token ids, or lists of token ids", "input");
}

/** Answers an embeddings request. */
export async function embeddings(request: Request, options: { dimensions: number }): Promise<Response> {
  const fields = await readJsonObject(request);
  const model = requiredModel(fields);
  const inputs = inputsOf(fields.input);
  const dimensions = optionalCount(fields.dimensions, "dimensions") ?? options.dimensions;
  const format = fields.encoding_format ?? "float";
  if (format !== "float" && format !== "base64") {
    throw invalid('encoding_format must be "float" or "base64"', "encoding_format");
  }
  let tokens = 0;
  const data = inputs.map((input, index) => {
    tokens += input.tokens;
    const vector = embeddingOf(input.text, dimensions);
    const embedding = format === "base64" ? new Uint8Array(vector.buffer).toBase64() : Array.from(vector);
    return { object: "embedding", index, embedding };
  });
  return listResponse("embd", { model, data, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}
