import assert from "node:assert/strict";
import fc from "fast-check";
import { formBoundary, formField } from "./multipart.ts";

/** A form as Deno's own encoder writes it: its bytes and content type. */
async function encodeForm(form: FormData): Promise<{ body: Uint8Array<ArrayBuffer>; contentType: string }> {
  const request = new Request("http://x/", { method: "POST", body: form });
  return { body: await request.bytes(), contentType: request.headers.get("content-type")! };
}

const fieldName = fc.constantFrom("model", "file", "language", "prompt", "model_x", "xmodel", "response_format");
const field = fc.record({
  name: fieldName,
  text: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  file: fc.uint8Array({ maxLength: 300 }),
  filename: fc.constantFrom("a.wav", "model", 'name="model".mp3'),
});

Deno.test("the model field read in place equals what Deno's own form parser reads, for any form", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(field, { maxLength: 6 }), async (fields) => {
      const form = new FormData();
      for (const f of fields) {
        if (f.text !== undefined) form.append(f.name, f.text);
        else form.append(f.name, new File([f.file], f.filename));
      }
      const { body, contentType } = await encodeForm(form);
      const parsed = await new Response(body, { headers: { "content-type": contentType } }).formData();
      const expected = parsed.getAll("model").find((value) => typeof value === "string");
      assert.equal(formField(body, { boundary: formBoundary(contentType)!, name: "model" }), expected);
    }),
    { numRuns: 300 },
  );
});

Deno.test("a file whose bytes look like a model part (under another boundary) does not fake the model field", async () => {
  const form = new FormData();
  const { contentType: probe } = await encodeForm(new FormData());
  const fake = `\r\n--${formBoundary(probe)}\r\nContent-Disposition: form-data; name="model"\r\n\r\nfake\r\n`;
  form.append("file", new File([fake], "trick.wav"));
  form.append("model", "real");
  const { body, contentType } = await encodeForm(form);
  assert.equal(formField(body, { boundary: formBoundary(contentType)!, name: "model" }), "real");
});

Deno.test("the boundary is read from multipart/form-data content types only, quoted or not", () => {
  assert.equal(formBoundary("multipart/form-data; boundary=abc123"), "abc123");
  assert.equal(formBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b:c"'), "a b:c");
  assert.equal(formBoundary("multipart/mixed; boundary=abc"), undefined);
  assert.equal(formBoundary("multipart/form-data"), undefined);
  assert.equal(formBoundary("application/json"), undefined);
  assert.equal(formBoundary(null), undefined);
});

Deno.test("a truncated or malformed body yields no model rather than an error", () => {
  const boundary = "b";
  const encode = (text: string) => new TextEncoder().encode(text);
  const whole = '--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nm1\r\n--b--\r\n';
  assert.equal(formField(encode(whole), { boundary, name: "model" }), "m1");
  for (let cut = 0; cut < whole.indexOf("\r\n--b--"); cut++) {
    assert.equal(formField(encode(whole.slice(0, cut)), { boundary, name: "model" }), undefined, `cut at ${cut}`);
  }
  assert.equal(formField(encode("not a form at all"), { boundary, name: "model" }), undefined);
  const preamble = "ignored preamble\r\n" + whole;
  assert.equal(formField(encode(preamble), { boundary, name: "model" }), "m1");
});
