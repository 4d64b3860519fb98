/** Reads and checks the body of /v1/chat/completions and /v1/completions into what generation needs. */

import { WorkerError } from "./errors.ts";
import { countTokens } from "./text.ts";

/** Which endpoint a request came through. */
export type CompletionKind = "chat" | "text";

/** A checked completion request. */
export interface CompletionRequest {
  kind: CompletionKind;
  /** The requested model, echoed in the response. */
  model: string;
  /** The prompt as one text (chat: the messages' text), which seeds the answer. */
  prompt: string;
  /** Prompt tokens (whitespace-separated words; token-id prompts count their ids). */
  promptTokens: number;
  /** max_completion_tokens / max_tokens from the request, if given. */
  maxTokens: number | undefined;
  stream: boolean;
  /** stream_options.include_usage. */
  includeUsage: boolean;
}

function invalid(message: string, param: string, code = "invalid_value"): WorkerError {
  return new WorkerError(400, message, { param, code });
}

/** Parses a request body; throws a 400 WorkerError naming the bad field. */
export async function readCompletionRequest(request: Request, kind: CompletionKind): Promise<CompletionRequest> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new WorkerError(400, "The request body is not valid JSON.", { code: "invalid_json" });
  }
  return checkCompletionRequest(body, kind);
}

/** Checks a parsed body; throws a 400 WorkerError naming the bad field. */
export function checkCompletionRequest(body: unknown, kind: CompletionKind): CompletionRequest {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new WorkerError(400, "The request body must be a JSON object.", { code: "invalid_json" });
  }
  const fields = body as Record<string, unknown>;
  const model = fields.model;
  if (model === undefined || model === null) {
    throw invalid("you must provide a model parameter", "model", "missing_required_parameter");
  }
  if (typeof model !== "string" || model === "") throw invalid("model must be a non-empty string", "model");

  const { prompt, promptTokens } = kind === "chat" ? chatPrompt(fields.messages) : textPrompt(fields.prompt);
  const maxTokens = kind === "chat"
    ? optionalCount(fields.max_completion_tokens, "max_completion_tokens") ??
      optionalCount(fields.max_tokens, "max_tokens")
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

function chatPrompt(messages: unknown): { prompt: string; promptTokens: number } {
  if (messages === undefined || messages === null) {
    throw invalid("you must provide a messages parameter", "messages", "missing_required_parameter");
  }
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalid("messages must be a non-empty array", "messages");
  }
  let prompt = "";
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (message === null || typeof message !== "object" || typeof message.role !== "string") {
      throw invalid(`messages[${i}] must be an object with a string role`, `messages[${i}]`);
    }
    prompt += `${message.role}: ${messageText(message.content, i)}\n`;
  }
  return { prompt, promptTokens: countTokens(prompt) };
}

function messageText(content: unknown, index: number): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    let text = "";
    for (const part of content) {
      if (part === null || typeof part !== "object" || typeof part.type !== "string") {
        throw invalid(`messages[${index}].content parts must be objects with a type`, `messages[${index}].content`);
      }
      if (part.type === "text" && typeof part.text === "string") text += `${part.text} `;
    }
    return text;
  }
  throw invalid(`messages[${index}].content must be a string, an array of parts or null`, `messages[${index}].content`);
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

function optionalCount(value: unknown, param: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw invalid(`${param} must be a positive integer`, param);
  }
  return value;
}

function optionalBoolean(value: unknown, param: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalid(`${param} must be a boolean`, param);
  return value;
}
