import assert from "node:assert/strict";
import { Authenticator } from "./auth.ts";
import { HttpError } from "./errors.ts";

const keys = [{ name: "team-a", key: "sk-a", rpm: 5, models: ["m1"] }, { name: "team-b", key: "sk-b", rpm: 0 }];

function status(auth: Authenticator, headers: HeadersInit): number | string {
  try {
    return auth.authenticate(new Headers(headers)).name;
  } catch (error) {
    assert.ok(error instanceof HttpError);
    return error.status;
  }
}

Deno.test("a key in X-API-Key or Authorization: Bearer identifies its owner; anything else is 401", () => {
  const auth = new Authenticator(keys, { enabled: true, anonymousRpm: 0 });
  assert.equal(status(auth, { "x-api-key": "sk-a" }), "team-a");
  assert.equal(status(auth, { authorization: "Bearer sk-b" }), "team-b");
  assert.equal(status(auth, { authorization: "bearer sk-b" }), "team-b");
  assert.equal(status(auth, { authorization: "Basic sk-b" }), 401);
  assert.equal(status(auth, { "x-api-key": "sk-" }), 401);
  assert.equal(status(auth, { "x-api-key": "sk-ab" }), 401);
  assert.equal(status(auth, {}), 401);
});

Deno.test("with auth off every request is the shared anonymous identity", () => {
  const auth = new Authenticator([], { enabled: false, anonymousRpm: 7 });
  assert.deepEqual(auth.authenticate(new Headers()), { name: "anonymous", rpm: 7 });
});
