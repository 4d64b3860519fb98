/**
 * vLLM's `POST /tokenize` and `POST /detokenize` with the mock's tokens: one token per whitespace-separated word
 * (so `count` equals the `prompt_tokens` a completion of the same prompt reports), ids from gateway-independent rules
 * (worker/text.ts: tokenId).
 */

import { jsonResponse } from "./answer.ts";
import { checkCompletionRequest } from "./completion_request.ts";
import { invalid, optionalBoolean, readJsonObject, requiredModel } from "./request_fields.ts";
import { tokenId, tokenWord, words } from "./text.ts";

/** The context window the mock reports (`max_model_len`). */
const MAX_MODEL_LEN = 32_768;

/** Answers `/tokenize`: a `prompt` (as /v1/completions takes it) or `messages` (as /v1/chat/completions does). */
export async function tokenize(request: Request): Promise<Response> {
  const fields = await readJsonObject(request);
  const kind = fields.messages !== undefined ? "chat" : "text";
  const { prompt } = checkCompletionRequest(fields, kind);
  const strings = words(prompt);
  const tokens = strings.map(tokenId);
  const withStrings = optionalBoolean(fields.return_token_strs, "return_token_strs") ?? false;
  return jsonResponse({
    count: tokens.length,
    max_model_len: MAX_MODEL_LEN,
    tokens,
    token_strs: withStrings ? strings : null,
  });
}

/** Answers `/detokenize`: the words of the ids, space-separated (`<unk>` for ids outside the vocabulary). */
export async function detokenize(request: Request): Promise<Response> {
  const fields = await readJsonObject(request);
  requiredModel(fields);
  const ids = fields.tokens;
  if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id) && id >= 0)) {
    throw invalid("tokens must be a list of token ids", "tokens");
  }
  return jsonResponse({ prompt: ids.map(tokenWord).join(" ") });
}
