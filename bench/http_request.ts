/** The one request every load generator sends: a chat completion with the target's auth header. */

/** A POST with its JSON body and headers, the same bytes for wrk, vegeta and the stream client. */
export interface BenchRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The chat-completion body the bench sends (a short prompt, a bounded answer). */
export function chatBody(options: { model: string; stream: boolean; maxTokens: number }): string {
  return JSON.stringify({
    model: options.model,
    messages: [{ role: "user", content: "Say something short about gateways." }],
    max_tokens: options.maxTokens,
    stream: options.stream,
  });
}
