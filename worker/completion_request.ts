/** Reads and checks the body of /v1/chat/completions, /v1/completions and /v1/responses into what generation needs. */

import {
  invalid,
  jsonObject,
  optionalBoolean,
  optionalCount,
  readJsonObject,
  requiredModel,
} from "./request_fields.ts";
import { countTokens } from "./text.ts";

/** Which endpoint a request came through. */
export type CompletionKind = "chat" | "text" | "responses";

/** A checked completion request. */
export interface CompletionRequest {
  kind: CompletionKind;
  /** The requested model, echoed in the response. */
  model: string;
  /** The prompt as one text (chat: the messages' text), which seeds the answer. */
  prompt: string;
  /** Prompt tokens (whitespace-separated words; token-id prompts count their ids). */
  promptTokens: number;
  /** max_completion_tokens / max_tokens (responses: max_output_tokens) from the request, if given. */
  maxTokens: number | undefined;
  stream: boolean;
  /** stream_options.include_usage. */
  includeUsage: boolean;
}

/** Parses a request body; throws a 400 WorkerError naming the bad field. */
export async function readCompletionRequest(request: Request, kind: CompletionKind): Promise<CompletionRequest> {
  return checkCompletionRequest(await readJsonObject(request), kind);
}

/** Checks a parsed body; throws a 400 WorkerError naming the bad field. */
export function checkCompletionRequest(body: unknown, kind: CompletionKind): CompletionRequest {
  const fields = jsonObject(body);
  const model = requiredModel(fields);

  const { prompt, promptTokens } = kind === "chat"
    ? chatPrompt(fields.messages, "messages")
    : kind === "responses"
    ? responsesPrompt(fields)
    : textPrompt(fields.prompt);
  const maxTokens = kind === "chat"
    ? optionalCount(fields.max_completion_tokens, "max_completion_tokens") ??
      optionalCount(fields.max_tokens, "max_tokens")
    : kind === "responses"
    ? optionalCount(fields.max_output_tokens, "max_output_tokens")
    : optionalCount(fields.max_tokens, "max_tokens");
  const stream = optionalBoolean(fields.stream, "stream") ?? false;
  const options = fields.stream_options;
  if (options !== undefined && options !== null && (typeof options !== "object" || Array.isArray(options))) {
    throw invalid("stream_options must be an object", "stream_options");
  }
  const includeUsage = optionalBoolean(
    (options as Record<string, unknown> | null | undefined)?.include_usage,
    "stream_options.include_usage",
  ) ?? false;
  return { kind, model, prompt, promptTokens, maxTokens, stream, includeUsage };
}

/** The text of a list of messages (`param`: the member holding them), one `role: content` line each. */
function chatPrompt(messages: unknown, param: string): { prompt: string; promptTokens: number } {
  if (messages === undefined || messages === null) {
    throw invalid(`you must provide a ${param} parameter`, param, "missing_required_parameter");
  }
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalid(`${param} must be a non-empty array`, param);
  }
  let prompt = "";
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (message === null || typeof message !== "object" || typeof message.role !== "string") {
      throw invalid(`${param}[${i}] must be an object with a string role`, `${param}[${i}]`);
    }
    prompt += `${message.role}: ${messageText(message.content, `${param}[${i}].content`)}\n`;
  }
  return { prompt, promptTokens: countTokens(prompt) };
}

/** Text parts: chat's `text`, the Responses API's `input_text` and `output_text`. */
const TEXT_PARTS = new Set(["text", "input_text", "output_text"]);

function messageText(content: unknown, param: string): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    let text = "";
    for (const part of content) {
      if (part === null || typeof part !== "object" || typeof part.type !== "string") {
        throw invalid(`${param} parts must be objects with a type`, param);
      }
      if (TEXT_PARTS.has(part.type) && typeof part.text === "string") text += `${part.text} `;
    }
    return text;
  }
  throw invalid(`${param} must be a string, an array of parts or null`, param);
}

/** The Responses API's prompt: its `instructions`, then its `input` (a text, or a list of messages). */
function responsesPrompt(fields: Record<string, unknown>): { prompt: string; promptTokens: number } {
  const { instructions, input } = fields;
  if (instructions !== undefined && instructions !== null && typeof instructions !== "string") {
    throw invalid("instructions must be a string", "instructions");
  }
  let prompt = typeof instructions === "string" ? `system: ${instructions}\n` : "";
  if (typeof input === "string") prompt += `user: ${input}\n`;
  else prompt += chatPrompt(input, "input").prompt;
  return { prompt, promptTokens: countTokens(prompt) };
}

function textPrompt(prompt: unknown): { prompt: string; promptTokens: number } {
  if (prompt === undefined || prompt === null) {
    throw invalid("you must provide a prompt parameter", "prompt", "missing_required_parameter");
  }
  if (typeof prompt === "string") return { prompt, promptTokens: countTokens(prompt) };
  if (Array.isArray(prompt)) {
    if (prompt.every((item) => typeof item === "string")) {
      const text = prompt.join("\n");
      return { prompt: text, promptTokens: countTokens(text) };
    }
    const ids = prompt.every((item) => Array.isArray(item)) ? prompt.flat() : prompt;
    if (ids.every((id) => Number.isInteger(id))) return { prompt: ids.join(" "), promptTokens: ids.length };
  }
  throw invalid("prompt must be a string, an array of strings or an array of token ids", "prompt");
}
