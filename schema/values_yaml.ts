/** Writes values.yaml: the defaults, each key commented with its description from the JSON schema. */
import { Document, isMap, isScalar, type YAMLMap } from "yaml";

type Json = Record<string, unknown>;

/** The schema of the value under `key` of an object schema (a property, or a map's value schema). */
function childSchema(schema: Json | undefined, key: string): Json | undefined {
  const props = schema?.properties as Record<string, Json> | undefined;
  if (props?.[key]) return props[key];
  const extra = schema?.additionalProperties;
  return typeof extra === "object" && extra !== null ? extra as Json : undefined;
}

/** Attaches each description as a comment above its key, recursively. */
function annotate(map: YAMLMap, schema: Json | undefined, depth: number): void {
  for (const pair of map.items) {
    if (!isScalar(pair.key)) continue;
    const sub = childSchema(schema, String(pair.key.value));
    const described = sub?.description as string | undefined;
    if (described && schema?.properties) pair.key.commentBefore = ` ${described}`;
    if (depth === 0) pair.key.spaceBefore = true;
    if (isMap(pair.value)) annotate(pair.value, sub, depth + 1);
  }
}

/** The commented values.yaml text for the given defaults and their JSON schema. */
export function valuesYaml(defaults: unknown, schema: Json, header: string): string {
  const doc = new Document(defaults, { version: "1.1" });
  if (isMap(doc.contents)) annotate(doc.contents, schema, 0);
  doc.commentBefore = header;
  return doc.toString({ lineWidth: 0 });
}
