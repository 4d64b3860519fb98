/** What every answer of the mock worker shares: unique ids and JSON responses. */

let sequence = 0;
const idPrefix = crypto.randomUUID().slice(0, 8);

/** A unique id for an answer, e.g. `embd-1a2b3c4d5`. */
export function answerId(prefix: string): string {
  return `${prefix}-${idPrefix}${(++sequence).toString(36)}`;
}

/** A JSON response with the given body. */
export function jsonResponse(body: unknown): Response {
  return new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
}

/** A list answer as vLLM's pooling endpoints give it: `{id, object: "list", created, model, data, usage}`. */
export function listResponse(
  idPrefix: string,
  answer: { model: string; data: unknown[]; usage: Record<string, number> },
): Response {
  return jsonResponse({
    id: answerId(idPrefix),
    object: "list",
    created: Math.floor(Date.now() / 1000),
    model: answer.model,
    data: answer.data,
    usage: answer.usage,
  });
}
