/**
 * Converts CustomResourceDefinition files into strict JSON schemas in kubeconform's CRD layout:
 * `<out>/<group>/<kind>_<version>.json` (kind in lower case), one file per served version, so kubeconform finds them
 * with `-schema-location '<out>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'`.
 *
 * Usage: deno run -A scripts/cluster/crd_schemas.ts <out dir> <crd.yaml>...
 *
 * Strict means: an object schema that lists its properties and does not preserve unknown fields rejects any other
 * property (additionalProperties: false), the way `kubectl apply` with server-side field validation refuses typos.
 * OpenAPI's `nullable: true` becomes a JSON Schema type that also admits null.
 */
import { parseAllDocuments } from "yaml";

type Schema = Record<string, unknown>;

/** One CRD version's schema, ready to write. */
export interface CrdSchema {
  group: string;
  kind: string;
  version: string;
  schema: Schema;
}

/** Makes an OpenAPI v3 structural schema strict and JSON-Schema-valid (returns a new object). */
export function strictSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictSchema);
  if (node === null || typeof node !== "object") return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node as Schema)) {
    // Keys under `properties` are field names, not keywords: convert each field's schema, keep the names.
    if (key === "properties" && value && typeof value === "object") {
      out[key] = Object.fromEntries(Object.entries(value as Schema).map(([name, sub]) => [name, strictSchema(sub)]));
    } else {
      out[key] = strictSchema(value);
    }
  }
  if (out.nullable === true && typeof out.type === "string") out.type = [out.type, "null"];
  delete out.nullable;
  const preserves = out["x-kubernetes-preserve-unknown-fields"] === true;
  if (out.properties && !preserves && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** Every served version of every CRD in a YAML text. */
export function crdSchemas(text: string): CrdSchema[] {
  const found: CrdSchema[] = [];
  for (const doc of parseAllDocuments(text)) {
    const crd = doc.toJS() as {
      kind?: string;
      spec?: {
        group: string;
        names: { kind: string };
        versions: { name: string; served: boolean; schema?: { openAPIV3Schema?: Schema } }[];
      };
    } | null;
    if (crd?.kind !== "CustomResourceDefinition" || !crd.spec) continue;
    for (const version of crd.spec.versions) {
      const schema = version.schema?.openAPIV3Schema;
      if (!version.served || !schema) continue;
      found.push({
        group: crd.spec.group,
        kind: crd.spec.names.kind,
        version: version.name,
        schema: strictSchema(schema) as Schema,
      });
    }
  }
  return found;
}

if (import.meta.main) {
  const [outDir, ...files] = Deno.args;
  if (!outDir || files.length === 0) {
    console.error("usage: crd_schemas.ts <out dir> <crd.yaml>...");
    Deno.exit(2);
  }
  for (const file of files) {
    for (const { group, kind, version, schema } of crdSchemas(await Deno.readTextFile(file))) {
      const path = `${outDir}/${group}/${kind.toLowerCase()}_${version}.json`;
      await Deno.mkdir(`${outDir}/${group}`, { recursive: true });
      await Deno.writeTextFile(path, JSON.stringify(schema, null, 2) + "\n");
      console.log(path);
    }
  }
}
