/** Fake upstream answers for in-process gateway tests (`gateway.handle` with a fake UpstreamClient). */

const encoder = new TextEncoder();

/** The usage every fake answer reports. */
export const USAGE = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };

/** A whole chat completion reporting USAGE. */
export function chatAnswer(): Response {
  return Response.json({ object: "chat.completion", choices: [], usage: USAGE });
}

/** A body giving one chunk per read, then closing, or failing as a reset connection does. */
export function sseBody(chunks: string[], end?: "error"): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < chunks.length) controller.enqueue(encoder.encode(chunks[next++]));
      else if (end === "error") controller.error(new Error("connection reset"));
      else controller.close();
    },
  });
}

/** A chat stream as an upstream asked for usage sends it: one token, the usage-only chunk, then [DONE]. */
export const CHAT_STREAM = [
  'data: {"choices":[{"index":0,"delta":{"content":"a"}}],"usage":null}\n\n',
  `data: {"choices":[],"usage":${JSON.stringify(USAGE)}}\n\n`,
  "data: [DONE]\n\n",
];
