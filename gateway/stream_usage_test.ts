import assert from "node:assert/strict";
import fc from "fast-check";
import { askForUsage, UsageStripper } from "./stream_usage.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text) as Uint8Array<ArrayBuffer>;

function asked(body: string): { sent: Record<string, unknown>; strip: boolean; same: boolean } {
  const input = bytes(body);
  const result = askForUsage(input, JSON.parse(decoder.decode(input)));
  return { sent: JSON.parse(decoder.decode(result.body)), strip: result.strip, same: result.body === input };
}

Deno.test("a stream request without stream_options asks for usage, everything else unchanged", () => {
  const body = { model: "m", messages: [{ role: "user", content: "hi" }], stream: true, temperature: 0.5 };
  const { sent, strip } = asked(JSON.stringify(body));
  assert.deepEqual(sent, { ...body, stream_options: { include_usage: true } });
  assert.equal(strip, true);
  // Whitespace and a byte order mark before the object are fine.
  assert.deepEqual(asked(`\ufeff \n${JSON.stringify(body)}`).sent, sent);
});

Deno.test("stream_options without include_usage gets it added; a client that asked keeps its body", () => {
  const base = { model: "m", prompt: "p", stream: true };
  const off = asked(JSON.stringify({ ...base, stream_options: { include_usage: false, extra: 1 } }));
  assert.deepEqual(off.sent.stream_options, { include_usage: true, extra: 1 });
  assert.equal(off.strip, true);
  assert.deepEqual(asked(JSON.stringify({ ...base, stream_options: null })).sent.stream_options, {
    include_usage: true,
  });
  for (const options of [{ include_usage: true }, { continuous_usage_stats: true }, "bad"]) {
    const kept = asked(JSON.stringify({ ...base, stream_options: options }));
    assert.deepEqual([kept.same, kept.strip], [true, false], JSON.stringify(options));
  }
});

/** An OpenAI-style SSE stream of `tokens`, as an upstream sends it with or without include_usage. */
function openaiStream(tokens: string[], options: { kind: "chat" | "text"; usage: boolean; nullMembers: boolean }) {
  const head = `data: {"id":"x-1","object":"o","created":1,"model":"m","choices":[`;
  const tail = options.usage && options.nullMembers ? `],"usage":null}\n\n` : `]}\n\n`;
  const choice = (text: string, finish: string | null) =>
    options.kind === "chat"
      ? `{"index":0,"delta":{"content":${JSON.stringify(text)}},"finish_reason":${JSON.stringify(finish)}}`
      : `{"index":0,"text":${JSON.stringify(text)},"finish_reason":${JSON.stringify(finish)}}`;
  let out = tokens.map((t) => head + choice(t, null) + tail).join("") + head + choice("", "stop") + tail;
  if (options.usage) {
    out += `${head}],"usage":{"prompt_tokens":3,"completion_tokens":${tokens.length},"total_tokens":${
      3 + tokens.length
    }}}\n\n`;
  }
  return out + "data: [DONE]\n\n";
}

/** `text` as bytes cut at the given fractions. */
function pieces(text: string, cuts: number[]): Uint8Array[] {
  const all = bytes(text);
  const at = [...new Set(cuts.map((c) => Math.floor(c * all.byteLength)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const to of [...at, all.byteLength]) {
    out.push(all.slice(from, to));
    from = to;
  }
  return out;
}

function strip(parts: Uint8Array[]): { text: string; stripper: UsageStripper } {
  const stripper = new UsageStripper();
  const out = parts.map((part) => decoder.decode(stripper.push(part), { stream: true })).join("");
  return { text: out + decoder.decode(stripper.end()), stripper };
}

Deno.test("stripping the asked-for usage gives the stream without it, byte for byte, however the bytes are cut", () => {
  const token = fc.oneof(fc.string({ unit: "grapheme" }), fc.constantFrom('"usage":null', ',"usage":{}', "\n\n", "u"));
  fc.assert(fc.property(
    fc.array(token, { maxLength: 12 }),
    fc.constantFrom("chat" as const, "text" as const),
    fc.boolean(),
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
    (tokens, kind, nullMembers, cuts) => {
      const upstream = openaiStream(tokens, { kind, usage: true, nullMembers });
      const { text, stripper } = strip(pieces(upstream, cuts));
      assert.equal(text, openaiStream(tokens, { kind, usage: false, nullMembers }));
      assert.deepEqual(stripper.usage, { promptTokens: 3, completionTokens: tokens.length, model: "m" });
    },
  ));
});

Deno.test("a stream without the usage chunk passes unchanged, and a chunk of whole events is not copied", () => {
  const plain = openaiStream(["a", "b"], { kind: "chat", usage: false, nullMembers: false });
  const stripper = new UsageStripper();
  const chunk = bytes(plain);
  assert.equal(stripper.push(chunk), chunk);
  assert.equal(stripper.end().byteLength, 0);
  assert.deepEqual(stripper.usage, {});
  // No event end at all (not SSE as expected): passed on once it is too long to hold, never lost.
  const odd = new UsageStripper();
  assert.equal(odd.push(bytes("data: x")).byteLength, 0);
  assert.equal(decoder.decode(odd.end()), "data: x");
});
