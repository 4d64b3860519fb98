/**
 * OpenAI response bodies for chat and text completions: whole JSON answers and SSE events. Each request's constant
 * part (id, created, model) is serialized once; a streamed token only adds its JSON-escaped text.
 */

import type { CompletionKind } from "./completion_request.ts";

/** Token counts as OpenAI's `usage` object reports them. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Why generation ended, as OpenAI's finish_reason says it. */
export type CompletionFinish = "stop" | "length";

/** The final SSE line of every stream. */
export const DONE_EVENT = "data: [DONE]\n\n";

let sequence = 0;
const idPrefix = crypto.randomUUID().slice(0, 8);

/** Builds the bodies of one request's answer. */
export class CompletionFormat {
  readonly id: string;
  readonly created: number;
  /** The model id as a JSON string. */
  #model: string;
  /** `data: {"id":...,"choices":[` */
  #eventHead: string;
  /** What closes a chunk after its choices (adds `"usage":null` when usage is streamed). */
  #eventTail: string;

  constructor(readonly kind: CompletionKind, options: { model: string; includeUsage: boolean }) {
    this.id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${idPrefix}${(++sequence).toString(36)}`;
    this.created = Math.floor(Date.now() / 1000);
    this.#model = JSON.stringify(options.model);
    const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
    this.#eventHead =
      `data: {"id":"${this.id}","object":"${object}","created":${this.created},"model":${this.#model},"choices":[`;
    // Chat chunks carry "usage":null until the usage chunk, as OpenAI sends them (text chunks may not: their schema
    // does not allow a null usage).
    this.#eventTail = options.includeUsage && kind === "chat" ? `],"usage":null}\n\n` : `]}\n\n`;
  }

  /** The SSE event carrying one token; the first chat token also carries the assistant role. */
  tokenEvent(token: string, first: boolean): string {
    const text = JSON.stringify(token);
    const choice = this.kind === "text"
      ? `{"index":0,"text":${text},"logprobs":null,"finish_reason":null}`
      : `{"index":0,"delta":{${
        first ? `"role":"assistant",` : ""
      }"content":${text}},"logprobs":null,"finish_reason":null}`;
    return this.#eventHead + choice + this.#eventTail;
  }

  /** The SSE event that ends the choice with its finish_reason. */
  finishEvent(finish: CompletionFinish): string {
    const choice = this.kind === "text"
      ? `{"index":0,"text":"","logprobs":null,"finish_reason":"${finish}"}`
      : `{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finish}"}`;
    return this.#eventHead + choice + this.#eventTail;
  }

  /** The stream_options.include_usage event: no choices, the usage. */
  usageEvent(usage: Usage): string {
    return `${this.#eventHead}],"usage":${JSON.stringify(usage)}}\n\n`;
  }

  /** The end of a stream: the finish event, the usage event when asked for, and [DONE]. */
  streamEnd(finish: CompletionFinish, usage: Usage | undefined): string {
    return this.finishEvent(finish) + (usage ? this.usageEvent(usage) : "") + DONE_EVENT;
  }

  /** The whole non-streamed answer. */
  body(text: string, finish: CompletionFinish, usage: Usage): string {
    const choice = this.kind === "text" ? { index: 0, text, logprobs: null, finish_reason: finish } : {
      index: 0,
      message: { role: "assistant", content: text, refusal: null },
      logprobs: null,
      finish_reason: finish,
    };
    const object = this.kind === "chat" ? "chat.completion" : "text_completion";
    return `{"id":"${this.id}","object":"${object}","created":${this.created},"model":${this.#model},"choices":[${
      JSON.stringify(choice)
    }],"usage":${JSON.stringify(usage)}}`;
  }
}
