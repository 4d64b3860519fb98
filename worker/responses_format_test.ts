import assert from "node:assert/strict";
import { assertOpenAI, assertOpenAIResponseEvent } from "../tests/support/openai_schema.ts";
import { ResponsesFormat } from "./responses_format.ts";

const usage = { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 };

/** The JSON events of an SSE text with `event:` lines, checking each event line names its data's type. */
function events(text: string): Array<Record<string, unknown>> {
  return text.split("\n\n").filter(Boolean).map((block) => {
    const [eventLine, dataLine] = block.split("\n");
    const data = JSON.parse(dataLine.slice("data: ".length));
    assert.equal(eventLine, `event: ${data.type}`);
    return data;
  });
}

Deno.test("a Responses API answer and its stream events satisfy OpenAI's schemas", () => {
  for (const finish of ["stop", "length"] as const) {
    const format = new ResponsesFormat({ model: "m", maxOutputTokens: finish === "length" ? 3 : undefined });
    const stream = format.streamStart() + format.tokenEvent("a", true) + format.tokenEvent(" b", false) +
      format.streamEnd(finish, usage);
    const all = events(stream);
    for (const event of all) assertOpenAIResponseEvent(event);
    assert.deepEqual(all.map((event) => event.sequence_number), all.map((_, i) => i));
    const last = all.at(-1)!;
    assert.equal(last.type, finish === "stop" ? "response.completed" : "response.incomplete");
    const response = last.response as { output_text: string; usage: { output_tokens: number }; status: string };
    assert.equal(response.output_text, "a b");
    assert.equal(response.usage.output_tokens, 3);
    const body = JSON.parse(format.body("a b", finish, usage));
    assertOpenAI("Response", body);
    assert.equal(body.status, finish === "stop" ? "completed" : "incomplete");
  }
});
