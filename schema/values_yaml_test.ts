import assert from "node:assert/strict";
import { parse } from "yaml";
import { valuesJsonSchema } from "./json_schema.ts";
import { values } from "./values.ts";
import { valuesYaml } from "./values_yaml.ts";

Deno.test("values.yaml holds the defaults, each key commented with its description", () => {
  const defaults = values.parse({});
  const text = valuesYaml(defaults, valuesJsonSchema(values), " header");
  assert.deepEqual(parse(text, { version: "1.1" }), JSON.parse(JSON.stringify(defaults)));
  assert.match(text, /# What the chart adds in front of the gateway Service: .*\n +mode: clusterIP/);
  assert.match(text, /# Replicas when autoscaling is off.\n +replicas: 2/, "nested entries are commented too");
  assert.match(text, /# Model workers keyed by name .* none named: one mock worker.*\nworkers: \{\}/);
  assert.match(text, /proxy-buffering: "off"/, "YAML 1.1 booleans stay strings");
});
