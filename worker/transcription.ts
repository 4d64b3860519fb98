/**
 * `POST /v1/audio/transcriptions` and `/v1/audio/translations` (multipart/form-data with `file` and `model`): a
 * deterministic text derived from the uploaded file's size, as `json` (default), `text` or `verbose_json`.
 * Transcriptions report token usage: one input token per started 1,000 bytes of audio, one output token per word.
 */

import { jsonResponse } from "./answer.ts";
import { WorkerError } from "./errors.ts";
import { invalid } from "./request_fields.ts";
import { answerTokens } from "./text.ts";

/** Which endpoint: transcription (same language) or translation (to English). */
export type AudioTask = "transcribe" | "translate";

/** Bytes per second of the audio the mock pretends to hear (16 kHz, 16-bit mono), for `duration`. */
const BYTES_PER_SECOND = 32_000;
const RESPONSE_FORMATS = new Set(["json", "text", "verbose_json"]);

/** The words heard in a file of `size` bytes: 3 to 15 words, the same for the same size and task. */
export function audioText(size: number, task: AudioTask): string {
  return answerTokens(`${task}:${size}`, 3 + (size % 13)).join("");
}

/** Answers a transcription or translation request. */
export async function transcribe(request: Request, task: AudioTask): Promise<Response> {
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    throw new WorkerError(400, "The request body must be multipart/form-data.", { code: "invalid_form" });
  }
  const model = form.get("model");
  if (typeof model !== "string" || model === "") {
    throw invalid("you must provide a model parameter", "model", "missing_required_parameter");
  }
  const file = form.get("file");
  if (!(file instanceof File)) throw invalid("you must provide a file", "file", "missing_required_parameter");
  const format = form.get("response_format") ?? "json";
  if (typeof format !== "string" || !RESPONSE_FORMATS.has(format)) {
    throw invalid("response_format must be json, text or verbose_json", "response_format");
  }
  const text = audioText(file.size, task);
  if (format === "text") return new Response(`${text}\n`, { headers: { "content-type": "text/plain" } });
  if (format === "verbose_json") {
    return jsonResponse({ task, language: "english", duration: file.size / BYTES_PER_SECOND, text });
  }
  if (task === "translate") return jsonResponse({ text });
  const input = Math.max(1, Math.ceil(file.size / 1000));
  const output = text.split(" ").length;
  return jsonResponse({
    text,
    usage: { type: "tokens", input_tokens: input, output_tokens: output, total_tokens: input + output },
  });
}
