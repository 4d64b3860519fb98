/** Turns the zod values type into the chart's values.schema.json: draft-07, fully inline, closed objects. */
import { z } from "zod";

type Json = Record<string, unknown>;

const SAFE = Number.MAX_SAFE_INTEGER;

/** The discriminator of a oneOf whose members all pin one property to a const (a zod discriminated union). */
function discriminator(members: Json[]): string | undefined {
  const first = members[0]?.properties as Record<string, Json> | undefined;
  for (const key of Object.keys(first ?? {})) {
    if (members.every((m) => (m.properties as Record<string, Json> | undefined)?.[key]?.const !== undefined)) {
      return key;
    }
  }
  return undefined;
}

/**
 * Rewrites a discriminated union's oneOf as if/then on the discriminator, so Helm reports the one member's errors
 * (e.g. "at '/gateway/routePolicies/m/percent': maximum: got 150, want 100") instead of every member's.
 */
function ifThen(node: Json): Json {
  const members = node.oneOf as Json[] | undefined;
  const key = members && discriminator(members);
  if (!members || !key) return node;
  const { oneOf: _, ...rest } = node;
  const values = members.map((m) => (m.properties as Record<string, Json>)[key].const);
  return {
    ...rest,
    type: "object",
    required: [key],
    // No properties here: each member, closed itself, decides which keys its strategy allows.
    allOf: [
      { properties: { [key]: { type: "string", enum: values } } },
      ...members.map((m) => ({
        if: { properties: { [key]: { const: (m.properties as Record<string, Json>)[key].const } } },
        then: m,
      })),
    ],
  };
}

/** Removes what zod adds but Helm's schema does not need, and closes every object that lists its properties. */
function tidy(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tidy);
  if (node === null || typeof node !== "object") return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(ifThen(node as Json))) {
    if ((key === "maximum" && value === SAFE) || (key === "minimum" && value === -SAFE)) continue;
    if (key === "$id" || key === "$ref" || key === "definitions" || key === "$defs") {
      throw new Error(`values schema must be inline, found ${key}`);
    }
    if (key === "propertyNames" && Object.keys(value as Json).length === 1) continue; // just {type: string}
    out[key] = tidy(value);
  }
  if (out.type === "object" && out.properties && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

/** The draft-07 JSON Schema of the chart values, as Helm validates them. */
export function valuesJsonSchema(schema: z.ZodType): Json {
  const raw = z.toJSONSchema(schema, { target: "draft-7", io: "input", unrepresentable: "throw" });
  const out = tidy(raw) as Json;
  out.$schema = "http://json-schema.org/draft-07/schema#";
  out.title = "Values of the nexus chart (generated from schema/ by `deno task gen`)";
  return out;
}
