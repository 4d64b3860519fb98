/** Writes the chart README's values table from the JSON schema's descriptions and defaults. */

type Json = Record<string, unknown>;

/** One table row per leaf value; maps of typed entries (workers.<name>) list their fields under `<name>`. */
function rows(schema: Json, path: string, out: string[]): void {
  const props = schema.properties as Record<string, Json> | undefined;
  const entry = schema.additionalProperties;
  if (props && Object.keys(props).length > 0) {
    for (const [key, sub] of Object.entries(props)) rows(sub, path ? `${path}.${key}` : key, out);
    return;
  }
  if (typeof entry === "object" && entry !== null && (entry as Json).properties) {
    out.push(row(path, schema));
    rows(entry as Json, `${path}.<name>`, out);
    return;
  }
  out.push(row(path, schema));
}

function typeOf(schema: Json): string {
  if (schema.enum) return (schema.enum as unknown[]).map((v) => `\`${v}\``).join(" \\| ");
  if (schema.type) return String(schema.type);
  if (Array.isArray(schema.anyOf)) return [...new Set((schema.anyOf as Json[]).map(typeOf))].join(" \\| ");
  return "object";
}

function row(path: string, schema: Json): string {
  const json = JSON.stringify(schema.default);
  const fallback = !("default" in schema) ? "" : json.length > 80 ? "see values.yaml" : `\`${json}\``;
  const text = String(schema.description ?? "").replaceAll("|", "\\|").replaceAll("<", "&lt;");
  return `| \`${path}\` | ${typeOf(schema)} | ${fallback.replaceAll("|", "\\|")} | ${text} |`;
}

/** The markdown table of every value. */
export function valuesTable(schema: Json): string {
  const out: string[] = [];
  rows(schema, "", out);
  return ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |", ...out].join("\n");
}
