import assert from "node:assert/strict";
import { valuesJsonSchema } from "./json_schema.ts";
import { valuesTable } from "./readme_table.ts";
import { values } from "./values.ts";

Deno.test("the chart README's values table has a row, with type, default and description, for every value", () => {
  const table = valuesTable(valuesJsonSchema(values));
  const rows = new Map(
    table.split("\n").slice(2).map((line) => [line.match(/^\| `([^`]+)` \|/)![1], line.split(" | ")]),
  );
  for (
    const path of [
      "gateway.expose.mode",
      "gateway.expose.ingress.host",
      "gateway.routePolicies",
      "workers.<name>.backend",
      "workers.<name>.cache.type",
      "gpuPools.<name>.tolerations",
      "gpuPools.<name>.resources.requests",
      "workers.<name>.gpuPool",
      "workers.<name>.keda.serverAddress",
      "gateway.service.type",
      "global.imageRegistry",
      "redis.mode",
      "hfToken.existingSecret",
      "grafanaDashboard.enabled",
    ]
  ) {
    const row = rows.get(path);
    assert.ok(row, `row for ${path}`);
    assert.ok(row.length >= 4 && row[3].trim().length > 5, `${path} is described`);
  }
  assert.match(table, /\| `gateway\.expose\.ingress\.host` \| string \| `"gateway\.local"` \|/);
  assert.match(table, /\| `workers\.<name>\.gpuPool` \| string \\\| object \| `"gpu"` \|/, "a union names its types");
  assert.match(table, /\| `workers\.<name>\.backend` \| `mock` \\\| `vllm` \\\| `sglang` \\\| `kserve` \| `"mock"` \|/);
});
