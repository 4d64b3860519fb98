/**
 * OpenAI response bodies for chat and text completions: whole JSON answers and SSE events. Each request's constant
 * part (id, created, model) is serialized once; a streamed token only adds its JSON-escaped text.
 */

import { answerId } from "./answer.ts";

/** Token counts as OpenAI's `usage` object reports them. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Why generation ended, as OpenAI's finish_reason says it. */
export type CompletionFinish = "stop" | "length";

/** What a generated answer looks like on the wire: chat and text completions, or the Responses API. */
export interface AnswerFormat {
  /** Streams: the events before the first token (none for completions). */
  streamStart(): string;
  /** The SSE event carrying one token. */
  tokenEvent(token: string, first: boolean): string;
  /** The end of a stream (its usage where the format, or the request, includes it). */
  streamEnd(finish: CompletionFinish, usage: Usage): string;
  /** The whole non-streamed answer. */
  body(text: string, finish: CompletionFinish, usage: Usage): string;
}

/** The final SSE line of every stream. */
export const DONE_EVENT = "data: [DONE]\n\n";

/** Builds the bodies of one chat or text completion's answer. */
export class CompletionFormat implements AnswerFormat {
  readonly id: string;
  readonly created: number;
  /** The model id as a JSON string. */
  #model: string;
  /** `data: {"id":...,"choices":[` */
  #eventHead: string;
  /** What closes a chunk after its choices (adds `"usage":null` when usage is streamed). */
  #eventTail: string;
  /** The stream ends with a usage chunk (stream_options.include_usage). */
  #includeUsage: boolean;

  constructor(readonly kind: "chat" | "text", options: { model: string; includeUsage: boolean }) {
    this.id = answerId(kind === "chat" ? "chatcmpl" : "cmpl");
    this.created = Math.floor(Date.now() / 1000);
    this.#model = JSON.stringify(options.model);
    this.#includeUsage = options.includeUsage;
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

  /** Nothing comes before the first token. */
  streamStart(): string {
    return "";
  }

  /** The end of a stream: the finish event, the usage event when asked for, and [DONE]. */
  streamEnd(finish: CompletionFinish, usage: Usage): string {
    return this.finishEvent(finish) + (this.#includeUsage ? this.usageEvent(usage) : "") + DONE_EVENT;
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
