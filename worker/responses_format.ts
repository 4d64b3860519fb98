/**
 * OpenAI Responses API bodies: the whole `response` object, and the typed SSE events of a streamed one
 * (`response.created` ... `response.output_text.delta` ... `response.completed`; no `[DONE]`). One message output with
 * one `output_text` part, as a plain text model gives.
 */

import { answerId } from "./answer.ts";
import type { AnswerFormat, CompletionFinish, Usage } from "./completion_format.ts";

/** Builds the bodies of one Responses API answer; a stream's tokens are kept to close it with the whole text. */
export class ResponsesFormat implements AnswerFormat {
  readonly id = answerId("resp");
  readonly #itemId = answerId("msg");
  readonly #createdAt = Math.floor(Date.now() / 1000);
  readonly #model: string;
  readonly #maxOutputTokens: number | null;
  #sequence = 0;
  #text = "";

  constructor(options: { model: string; maxOutputTokens: number | undefined }) {
    this.#model = options.model;
    this.#maxOutputTokens = options.maxOutputTokens ?? null;
  }

  /** `response.created`, `response.in_progress`, the message item and its text part being added. */
  streamStart(): string {
    const response = this.#response({ status: "in_progress", output: [] });
    return this.#event("response.created", { response }) +
      this.#event("response.in_progress", { response }) +
      this.#event("response.output_item.added", { output_index: 0, item: this.#message("in_progress", []) }) +
      this.#event("response.content_part.added", { ...this.#where(), part: textPart("") });
  }

  /** `response.output_text.delta` with the token. */
  tokenEvent(token: string, _first: boolean): string {
    this.#text += token;
    return this.#event("response.output_text.delta", { ...this.#where(), delta: token, logprobs: [] });
  }

  /** The text, part and item done, then `response.completed` (or `incomplete` when cut by max_output_tokens). */
  streamEnd(finish: CompletionFinish, usage: Usage): string {
    const text = this.#text;
    const where = this.#where();
    return this.#event("response.output_text.done", { ...where, text, logprobs: [] }) +
      this.#event("response.content_part.done", { ...where, part: textPart(text) }) +
      this.#event("response.output_item.done", { output_index: 0, item: this.#message(finish, [textPart(text)]) }) +
      this.#event(finish === "stop" ? "response.completed" : "response.incomplete", {
        response: this.#finished(text, finish, usage),
      });
  }

  /** The whole `response` object. */
  body(text: string, finish: CompletionFinish, usage: Usage): string {
    return JSON.stringify(this.#finished(text, finish, usage));
  }

  #finished(text: string, finish: CompletionFinish, usage: Usage): Record<string, unknown> {
    return this.#response({
      status: finish === "stop" ? "completed" : "incomplete",
      incomplete_details: finish === "stop" ? null : { reason: "max_output_tokens" },
      output: [this.#message(finish, [textPart(text)])],
      output_text: text,
      usage: {
        input_tokens: usage.prompt_tokens,
        input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
        output_tokens: usage.completion_tokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: usage.total_tokens,
      },
    });
  }

  #response(fields: Record<string, unknown>): Record<string, unknown> {
    return {
      id: this.id,
      object: "response",
      created_at: this.#createdAt,
      status: "in_progress",
      error: null,
      incomplete_details: null,
      instructions: null,
      max_output_tokens: this.#maxOutputTokens,
      model: this.#model,
      output: [],
      parallel_tool_calls: true,
      previous_response_id: null,
      temperature: 1,
      top_p: 1,
      text: { format: { type: "text" } },
      tool_choice: "auto",
      tools: [],
      truncation: "disabled",
      metadata: {},
      ...fields,
    };
  }

  #message(state: CompletionFinish | "in_progress", content: unknown[]): Record<string, unknown> {
    const status = state === "stop" ? "completed" : state === "length" ? "incomplete" : "in_progress";
    return { id: this.#itemId, type: "message", status, role: "assistant", content };
  }

  #where(): { item_id: string; output_index: number; content_index: number } {
    return { item_id: this.#itemId, output_index: 0, content_index: 0 };
  }

  #event(type: string, fields: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, ...fields, sequence_number: this.#sequence++ })}\n\n`;
  }
}

function textPart(text: string): Record<string, unknown> {
  return { type: "output_text", text, annotations: [], logprobs: [] };
}
