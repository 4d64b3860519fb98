/** Reading Server-Sent Events bodies in tests. */
import assert from "node:assert/strict";

/** The `data:` payloads of a whole SSE body, in order; asserts the content type and the final `data: [DONE]`. */
export async function sseData(response: Response): Promise<string[]> {
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
  const text = await response.text();
  assert.ok(text.endsWith("data: [DONE]\n\n"), `stream does not end with [DONE]: ${text.slice(-200)}`);
  return text.split("\n\n").filter(Boolean).map((event) => {
    assert.ok(event.startsWith("data: "), `not an SSE data event: ${event}`);
    return event.slice("data: ".length);
  });
}
