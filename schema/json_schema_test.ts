import assert from "node:assert/strict";
import { valuesJsonSchema } from "./json_schema.ts";
import { values } from "./values.ts";

type Json = Record<string, unknown>;

function walk(node: unknown, visit: (n: Json, path: string) => void, path = ""): void {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, visit, `${path}[${i}]`));
  else if (node && typeof node === "object") {
    visit(node as Json, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}/${k}`);
  }
}

Deno.test("values schema is draft-07, fully inline, and closes every object", () => {
  const schema = valuesJsonSchema(values);
  assert.equal(schema.$schema, "http://json-schema.org/draft-07/schema#");
  walk(schema, (node, path) => {
    for (const key of ["$ref", "$id", "definitions", "$defs"]) assert.ok(!(key in node), `${key} at ${path}`);
    if (node.type === "object" && node.properties) {
      assert.equal(node.additionalProperties, false, `open object at ${path}`);
    }
  });
});

Deno.test("every chart value has a description", () => {
  walk(valuesJsonSchema(values), (node, path) => {
    const props = node.properties as Record<string, Json> | undefined;
    for (const [key, sub] of Object.entries(props ?? {})) {
      if (path.includes("/allOf")) continue; // the policy strategy check repeats described members
      assert.ok(sub.description, `no description for ${path}/properties/${key}`);
    }
  });
});

Deno.test("the workers map types its entries and the canary percent is bounded", () => {
  const schema = valuesJsonSchema(values) as Json & { properties: Record<string, Json> };
  const entry = schema.properties.workers.additionalProperties as Json;
  assert.equal((entry.properties as Json & { backend: Json }).backend.type, "string");
  const policy = (schema.properties.gateway.properties as Record<string, Json>).routePolicies
    .additionalProperties as Json;
  assert.ok(!("oneOf" in policy), "the union is if/then on strategy, so errors name one member's field");
  const members = (policy.allOf as Json[]).filter((m) => m.then).map((m) => m.then as Json);
  const canary = members.find((m) => JSON.stringify(m).includes('"canary"')) as Json & {
    properties: { percent: Json };
  };
  assert.equal(canary.properties.percent.maximum, 100);
  assert.equal(canary.properties.percent.minimum, 0);
});
