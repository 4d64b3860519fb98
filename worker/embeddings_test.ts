import assert from "node:assert/strict";
import fc from "fast-check";
import { embeddingOf, embeddings } from "./embeddings.ts";
import { WorkerError } from "./errors.ts";

const post = (body: unknown) => new Request("http://w/v1/embeddings", { method: "POST", body: JSON.stringify(body) });

Deno.test("an embedding is a unit vector, the same for the same text and different for another", () => {
  fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 512 }), (text, dimensions) => {
    const vector = embeddingOf(text, dimensions);
    assert.equal(vector.length, dimensions);
    const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
    assert.deepEqual(embeddingOf(text, dimensions), vector);
  }));
  assert.notDeepEqual(embeddingOf("a", 8), embeddingOf("b", 8));
});

Deno.test("embeddings answer each input with its vector, as floats or base64, and count input tokens", async () => {
  const floats = await (await embeddings(post({ model: "e", input: ["one two", "three"] }), { dimensions: 4 })).json();
  assert.deepEqual(floats.usage, { prompt_tokens: 3, total_tokens: 3 });
  assert.deepEqual(floats.data.map((d: { index: number }) => d.index), [0, 1]);
  assert.deepEqual(floats.data[0].embedding, Array.from(embeddingOf("one two", 4)));
  const packed = await (await embeddings(post({ model: "e", input: "three", encoding_format: "base64" }), {
    dimensions: 4,
  })).json();
  const bytes = Uint8Array.fromBase64(packed.data[0].embedding);
  assert.deepEqual(Array.from(new Float32Array(bytes.buffer)), floats.data[1].embedding);
  const sized = await (await embeddings(post({ model: "e", input: [[1, 2, 3]], dimensions: 6 }), { dimensions: 4 }))
    .json();
  assert.equal(sized.data[0].embedding.length, 6);
  assert.equal(sized.usage.prompt_tokens, 3);
});

Deno.test("an embeddings request without input, or with a bad one, gets 400 naming the field", async () => {
  for (
    const [body, param] of [
      [{ model: "e" }, "input"],
      [{ model: "e", input: [] }, "input"],
      [{ input: "x" }, "model"],
      [
        { model: "e", input: "x", encoding_format: "hex" },
        "encoding_format",
      ],
    ] as const
  ) {
    await assert.rejects(embeddings(post(body), { dimensions: 4 }), (error) => {
      assert.ok(error instanceof WorkerError);
      assert.deepEqual([error.status, error.param], [400, param]);
      return true;
    });
  }
});
