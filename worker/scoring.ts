/**
 * vLLM's scoring APIs with scores from word overlap: the share of the query's distinct words (lower-cased, letters and
 * digits only) found in the document, from 0 to 1. `POST /v1/rerank` and `/v2/rerank` (Jina and Cohere style:
 * `query`, `documents`, `top_n`) rank documents; `POST /v1/score` scores text pairs (`text_1`, `text_2`).
 */

import { answerId, jsonResponse, listResponse } from "./answer.ts";
import { invalid, readJsonObject, requiredModel, textList } from "./request_fields.ts";
import { countTokens, words } from "./text.ts";

/** The normalized distinct words of a text. */
function wordSet(text: string): Set<string> {
  const set = new Set<string>();
  for (const word of words(text.toLowerCase())) {
    const bare = word.replace(/[^\p{L}\p{N}]+/gu, "");
    if (bare !== "") set.add(bare);
  }
  return set;
}

/** The share of the query's distinct words that the document contains (0 when the query has none). */
export function overlapScore(query: string, document: string): number {
  const wanted = wordSet(query);
  if (wanted.size === 0) return 0;
  const present = wordSet(document);
  let found = 0;
  for (const word of wanted) if (present.has(word)) found++;
  return found / wanted.size;
}

/** A rerank document: a text, or vLLM's `{text}` object. */
function documentText(document: unknown, index: number): string {
  if (typeof document === "string") return document;
  if (document !== null && typeof document === "object" && typeof (document as { text?: unknown }).text === "string") {
    return (document as { text: string }).text;
  }
  throw invalid("each document must be a string or an object with a text", `documents[${index}]`);
}

/** Answers `/v1/rerank` and `/v2/rerank`: the documents by relevance, best first, at most `top_n` (0: all). */
export async function rerank(request: Request): Promise<Response> {
  const fields = await readJsonObject(request);
  const model = requiredModel(fields);
  if (typeof fields.query !== "string") {
    throw invalid(
      "query must be a string",
      "query",
      fields.query === undefined ? "missing_required_parameter" : undefined,
    );
  }
  const query = fields.query;
  if (!Array.isArray(fields.documents) || fields.documents.length === 0) {
    throw invalid("documents must be a non-empty list", "documents");
  }
  const topN = fields.top_n ?? 0;
  if (!Number.isInteger(topN) || (topN as number) < 0) throw invalid("top_n must be a whole number", "top_n");
  const documents = fields.documents.map(documentText);
  let tokens = 0;
  const results = documents.map((text, index) => {
    tokens += countTokens(query) + countTokens(text);
    return { index, document: { text }, relevance_score: overlapScore(query, text) };
  });
  results.sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index);
  return jsonResponse({
    id: answerId("rerank"),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
    results: (topN as number) > 0 ? results.slice(0, topN as number) : results,
  });
}

/**
 * Answers `/v1/score`: one score per pair. One text on the first side is paired with every text on the second;
 * otherwise both sides pair up in order and must be as long.
 */
export async function score(request: Request): Promise<Response> {
  const fields = await readJsonObject(request);
  const model = requiredModel(fields);
  const first = textList(fields.text_1 ?? fields.queries, "text_1");
  const second = textList(fields.text_2 ?? fields.documents, "text_2");
  if (first.length !== 1 && first.length !== second.length) {
    throw invalid("text_1 must hold one text, or as many as text_2", "text_1");
  }
  let tokens = 0;
  const data = second.map((text, index) => {
    const query = first.length === 1 ? first[0] : first[index];
    tokens += countTokens(query) + countTokens(text);
    return { index, object: "score", score: overlapScore(query, text) };
  });
  return listResponse("score", {
    model,
    data,
    usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 },
  });
}
