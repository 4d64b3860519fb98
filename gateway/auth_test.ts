import assert from "node:assert/strict";
import fc from "fast-check";
import { Authenticator, constantTimeEqual } from "./auth.ts";
import { HttpError } from "./errors.ts";

const NONE = { rpm: 0, tpm: 0, tokensPerDay: 0 };
const keys = [
  { name: "team-a", key: "sk-a", rpm: 5, tpm: 0, tokensPerDay: 0, models: ["m1"] },
  { name: "team-b", key: "sk-b", rpm: 0, tpm: 100, tokensPerDay: 0 },
];

function status(auth: Authenticator, headers: HeadersInit): number | string {
  try {
    return auth.authenticate(new Headers(headers)).name;
  } catch (error) {
    assert.ok(error instanceof HttpError);
    return error.status;
  }
}

Deno.test("a key in X-API-Key or Authorization: Bearer identifies its owner; anything else is 401", () => {
  const auth = new Authenticator(keys, { enabled: true, anonymous: NONE });
  assert.equal(status(auth, { "x-api-key": "sk-a" }), "team-a");
  assert.equal(status(auth, { authorization: "Bearer sk-b" }), "team-b");
  assert.equal(status(auth, { authorization: "bearer sk-b" }), "team-b");
  assert.equal(status(auth, { authorization: "Basic sk-b" }), 401);
  assert.equal(status(auth, { "x-api-key": "sk-" }), 401);
  assert.equal(status(auth, { "x-api-key": "sk-ab" }), 401);
  assert.equal(status(auth, {}), 401);
});

Deno.test("with auth off every request is the shared anonymous identity", () => {
  const auth = new Authenticator([], { enabled: false, anonymous: { rpm: 7, tpm: 0, tokensPerDay: 9 } });
  assert.deepEqual(auth.authenticate(new Headers()), {
    name: "anonymous",
    rpm: 7,
    tpm: 0,
    tokensPerDay: 9,
    models: undefined,
    tokenBudget: true,
  });
});

Deno.test("constant-time comparison agrees with === for any strings", () => {
  fc.assert(fc.property(fc.string(), fc.string(), (a, b) => {
    assert.equal(constantTimeEqual(a, b), a === b);
    assert.equal(constantTimeEqual(a, a), true);
  }));
});

Deno.test("with more keys than the scan limit, keys are found by digest", () => {
  const many = Array.from({ length: 100 }, (_, i) => ({ name: `k${i}`, key: `sk-${i}`, ...NONE, rpm: 1 }));
  const auth = new Authenticator(many, { enabled: true, anonymous: NONE });
  assert.equal(status(auth, { "x-api-key": "sk-42" }), "k42");
  assert.equal(status(auth, { "x-api-key": "sk-100" }), 401);
});
