/** Validates JSON values against component schemas of OpenAI's published API description (../shared/openai). */

import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { sharedDir } from "./paths.ts";

/** The OpenAI component schemas Nexus responses must satisfy. */
export type OpenAISchemaName =
  | "CreateChatCompletionResponse"
  | "CreateChatCompletionStreamResponse"
  | "CreateCompletionResponse"
  | "ListModelsResponse"
  | "ErrorResponse"
  | "CreateEmbeddingResponse"
  | "Response"
  | "CreateTranscriptionResponseJson"
  | "CreateTranslationResponseJson";

const DOCUMENT_ID = "openai-openapi.json";

let ajv: Ajv2020 | undefined;
let schemas: Record<string, { properties?: { type?: { enum?: string[] } }; anyOf?: Array<{ $ref?: string }> }>;
const compiled = new Map<string, ValidateFunction>();

/** Rewrites OpenAPI 3.0 `nullable: true` into JSON Schema (`anyOf` with `{type: "null"}`), everywhere in a tree. */
export function rewriteNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteNullable);
  if (node === null || typeof node !== "object") return node;
  const { nullable, ...rest } = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) out[key] = rewriteNullable(value);
  return nullable === true ? { anyOf: [out, { type: "null" }] } : out;
}

function validator(name: string): ValidateFunction {
  const cached = compiled.get(name);
  if (cached) return cached;
  if (!ajv) {
    const document = JSON.parse(Deno.readTextFileSync(`${sharedDir}/openai/openapi.json`));
    schemas = document.components.schemas;
    // strict: false because the document carries OpenAPI-only keywords (x-*, discriminator, example, format: unixtime).
    ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema({ components: rewriteNullable(document.components) }, DOCUMENT_ID);
  }
  const validate = ajv.compile({ $ref: `${DOCUMENT_ID}#/components/schemas/${name}` });
  compiled.set(name, validate);
  return validate;
}

/** The schema violations of a value (empty when it is valid), each as "path: message". */
export function openAIErrors(name: OpenAISchemaName | `Response${string}Event`, value: unknown): string[] {
  const validate = validator(name);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((error) =>
    `${error.instancePath || "/"}: ${error.message} ${JSON.stringify(error.params)}`
  );
}

/**
 * Asserts a Responses API stream event is valid against the one schema of ResponseStreamEvent that its `type` names
 * (validating against the whole union would list every other event's complaints).
 */
export function assertOpenAIResponseEvent(event: { type?: unknown }): void {
  validator("ResponseStreamEvent"); // loads the document
  const ref = schemas.ResponseStreamEvent.anyOf?.find((option) => {
    const name = option.$ref?.split("/").at(-1);
    return name !== undefined && schemas[name]?.properties?.type?.enum?.includes(String(event.type));
  });
  if (ref === undefined) throw new Error(`no ResponseStreamEvent has type ${JSON.stringify(event.type)}`);
  assertOpenAI(ref.$ref!.split("/").at(-1) as `Response${string}Event`, event);
}

/** Throws, listing every violation, unless the value satisfies the named OpenAI schema. */
export function assertOpenAI(name: OpenAISchemaName | `Response${string}Event`, value: unknown): void {
  const errors = openAIErrors(name, value);
  if (errors.length > 0) {
    throw new Error(`not a valid ${name}:\n  ${errors.join("\n  ")}\nvalue: ${JSON.stringify(value)}`);
  }
}

/**
 * Asserts a streamed /v1/completions chunk is valid. OpenAI's schema shares CreateCompletionResponse between whole
 * answers and chunks but types finish_reason as non-null, while OpenAI (and vLLM) send null until the last chunk;
 * so a null finish_reason is accepted here and everything else is checked against the schema.
 */
export function assertOpenAICompletionChunk(value: unknown): void {
  const chunk = value as { choices?: { finish_reason?: unknown }[] };
  const choices = Array.isArray(chunk?.choices)
    ? chunk.choices.map((choice) => choice?.finish_reason === null ? { ...choice, finish_reason: "stop" } : choice)
    : chunk?.choices;
  assertOpenAI("CreateCompletionResponse", { ...chunk, choices });
}
