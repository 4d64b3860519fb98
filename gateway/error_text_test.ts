import assert from "node:assert/strict";
import { errorText } from "./error_text.ts";

Deno.test("an error's text includes its causes", () => {
  const refused = new Error("fetch failed", { cause: new Error("tcp connect error: Connection refused") });
  assert.equal(errorText(refused), "fetch failed: tcp connect error: Connection refused");
  assert.equal(errorText(new TypeError("bad")), "bad");
  assert.equal(errorText("plain"), "plain");
  assert.equal(errorText(new Error("outer", { cause: 42 })), "outer: 42");
});
