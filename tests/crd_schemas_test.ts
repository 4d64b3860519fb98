import assert from "node:assert/strict";
import { crdSchemas, strictSchema } from "../scripts/cluster/crd_schemas.ts";
import { repoRoot, sharedDir } from "./support/paths.ts";

Deno.test("a CRD object schema that lists its fields rejects any other field", () => {
  const schema = strictSchema({ type: "object", properties: { spec: { type: "object", properties: {} } } });
  assert.deepEqual(schema, {
    type: "object",
    properties: { spec: { type: "object", properties: {}, additionalProperties: false } },
    additionalProperties: false,
  });
});

Deno.test("a CRD field that preserves unknown fields or declares additionalProperties stays open", () => {
  const preserved = { type: "object", properties: { a: {} }, "x-kubernetes-preserve-unknown-fields": true };
  assert.deepEqual(strictSchema(preserved), preserved);
  const map = { type: "object", additionalProperties: { type: "string" } };
  assert.deepEqual(strictSchema(map), map);
});

Deno.test("an OpenAPI nullable field also admits null", () => {
  assert.deepEqual(strictSchema({ type: "string", nullable: true }), { type: ["string", "null"] });
});

Deno.test("a field named like a keyword under properties keeps its name", () => {
  const schema = strictSchema({ type: "object", properties: { nullable: { type: "boolean" } } }) as {
    properties: Record<string, unknown>;
  };
  assert.deepEqual(schema.properties.nullable, { type: "boolean" });
});

Deno.test("the committed CRD schemas are what crd_schemas.ts makes of ../shared/crds", async () => {
  let count = 0;
  for await (const entry of Deno.readDir(`${sharedDir}/crds`)) {
    if (!entry.name.endsWith(".yaml")) continue;
    for (const crd of crdSchemas(await Deno.readTextFile(`${sharedDir}/crds/${entry.name}`))) {
      const path = `${repoRoot}/tests/schemas/crds/${crd.group}/${crd.kind.toLowerCase()}_${crd.version}.json`;
      assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), crd.schema, `${path} is stale`);
      count++;
    }
  }
  assert.ok(count >= 5, `only ${count} CRD schemas found`);
});
