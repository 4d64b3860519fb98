/**
 * The gateway's trace settings: the standard OpenTelemetry variables (OTEL_*), parsed and validated once at startup.
 * Traces are off unless an OTLP endpoint variable is set or OTEL_TRACES_EXPORTER=otlp; they export OTLP over HTTP.
 */
import { z } from "zod";
import { ConfigError } from "./config_error.ts";

/** The samplers of OTEL_TRACES_SAMPLER the gateway supports (the specification's built-in ones). */
export const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
/** A sampler name. */
export type SamplerName = typeof SAMPLERS[number];

/** OTLP over HTTP, in protobuf (the specification's default) or JSON. */
export const PROTOCOLS = ["http/protobuf", "http/json"] as const;

/** How and where spans are exported, and which are kept. */
export interface TracingConfig {
  /** The full URL spans are POSTed to (`.../v1/traces`). */
  endpoint: string;
  /** OTLP encoding. */
  protocol: typeof PROTOCOLS[number];
  /** Headers sent with every export (credentials, tenant). */
  headers: Record<string, string>;
  /** How long one export may take. */
  timeoutMs: number;
  /** Body compression of exports. */
  compression: "gzip" | "none";
  /** The resource's `service.name`. */
  serviceName: string;
  /** Further resource attributes (OTEL_RESOURCE_ATTRIBUTES). */
  resourceAttributes: Record<string, string>;
  /** Which traces are recorded: the sampler and, for the ratio samplers, the share kept. */
  sampler: { name: SamplerName; ratio: number };
  /** The batch span processor: spans are exported in batches, every `scheduleDelayMs` or when a batch is full. */
  batch: { scheduleDelayMs: number; maxQueueSize: number; maxExportBatchSize: number; exportTimeoutMs: number };
}

/** The default service name (OTEL_SERVICE_NAME). */
export const DEFAULT_SERVICE_NAME = "nexus-gateway";
const DEFAULT_ENDPOINT = "http://localhost:4318";
const TRACES_PATH = "v1/traces";

type Env = Record<string, string | undefined>;

const httpUrl = z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" });
const positiveInt = z.coerce.number<string>().int("expected an integer").min(1, "expected a positive integer");
const boolean = z.enum(["true", "false"], "expected true or false");

/** The trimmed value of `name`, or undefined when unset or blank. */
function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

/** Parses `name` with `schema`; a bad value throws a ConfigError naming the variable (and the value, unless secret). */
function parse<T>(
  env: Env,
  name: string,
  schema: z.ZodType<T, string>,
  options: { secret?: boolean } = {},
): T | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const shown = options.secret ? "" : ` (got ${JSON.stringify(value)})`;
  throw new ConfigError(name, `${result.error.issues[0].message}${shown}`);
}

/** The first of a signal-specific variable and its general form that is set, with its name. */
function either(env: Env, names: [string, string]): string {
  return raw(env, names[0]) !== undefined ? names[0] : names[1];
}

/**
 * A `key=value,key=value` list (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES): values are percent-decoded.
 * Headers may hold credentials, so an error names the entry's position, never its text.
 */
function keyValueList(env: Env, name: string): Record<string, string> {
  const text = raw(env, name);
  const result: Record<string, string> = {};
  if (text === undefined) return result;
  text.split(",").forEach((entry, index) => {
    if (entry.trim() === "") return;
    const eq = entry.indexOf("=");
    const key = eq > 0 ? entry.slice(0, eq).trim() : "";
    if (key === "") throw new ConfigError(name, `entry ${index + 1}: expected key=value`);
    try {
      result[key] = decodeURIComponent(entry.slice(eq + 1).trim());
    } catch {
      throw new ConfigError(name, `entry ${index + 1} ("${key}"): the value is not valid percent-encoding`);
    }
  });
  return result;
}

/** The traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, or OTEL_EXPORTER_OTLP_ENDPOINT plus `/v1/traces`. */
function endpoint(env: Env): string {
  const traces = parse(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", httpUrl);
  if (traces !== undefined) return traces;
  const base = parse(env, "OTEL_EXPORTER_OTLP_ENDPOINT", httpUrl) ?? DEFAULT_ENDPOINT;
  return `${base}${base.endsWith("/") ? "" : "/"}${TRACES_PATH}`;
}

function sampler(env: Env): TracingConfig["sampler"] {
  const name = parse(env, "OTEL_TRACES_SAMPLER", z.enum(SAMPLERS, `expected one of ${SAMPLERS.join("|")}`)) ??
    "parentbased_always_on";
  const ratioSchema = z.coerce.number<string>().min(0, "expected a number in 0..1").max(1, "expected a number in 0..1");
  const ratio = name.endsWith("traceidratio") ? parse(env, "OTEL_TRACES_SAMPLER_ARG", ratioSchema) ?? 1 : 1;
  return { name, ratio };
}

function batch(env: Env): TracingConfig["batch"] {
  const maxQueueSize = parse(env, "OTEL_BSP_MAX_QUEUE_SIZE", positiveInt) ?? 2048;
  const maxExportBatchSize = parse(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", positiveInt) ?? 512;
  if (maxExportBatchSize > maxQueueSize) {
    throw new ConfigError(
      "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
      `must not exceed OTEL_BSP_MAX_QUEUE_SIZE (${maxExportBatchSize} > ${maxQueueSize})`,
    );
  }
  return {
    scheduleDelayMs: parse(env, "OTEL_BSP_SCHEDULE_DELAY", positiveInt) ?? 5000,
    maxQueueSize,
    maxExportBatchSize,
    exportTimeoutMs: parse(env, "OTEL_BSP_EXPORT_TIMEOUT", positiveInt) ?? 30_000,
  };
}

/**
 * Reads the trace settings; undefined when traces are off: OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none, or
 * neither an OTLP endpoint variable nor OTEL_TRACES_EXPORTER=otlp set. Throws ConfigError on a bad value.
 */
export function parseTracingConfig(env: Env): TracingConfig | undefined {
  if (parse(env, "OTEL_SDK_DISABLED", z.string().toLowerCase().pipe(boolean)) === "true") return undefined;
  const exporter = parse(
    env,
    "OTEL_TRACES_EXPORTER",
    z.string().toLowerCase().pipe(z.enum(["otlp", "none"], "expected otlp or none (Nexus exports OTLP only)")),
  );
  if (exporter === "none") return undefined;
  const endpointSet = raw(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") !== undefined ||
    raw(env, "OTEL_EXPORTER_OTLP_ENDPOINT") !== undefined;
  if (exporter === undefined && !endpointSet) return undefined;

  const protocolVariable = either(env, ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]);
  const protocol = parse(
    env,
    protocolVariable,
    z.enum(PROTOCOLS, `expected http/protobuf or http/json (Nexus exports OTLP over HTTP, port 4318; not grpc)`),
  ) ?? "http/protobuf";
  const timeoutVariable = either(env, ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"]);
  const compressionVariable = either(env, ["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"]);
  const resourceAttributes = keyValueList(env, "OTEL_RESOURCE_ATTRIBUTES");
  const serviceName = parse(env, "OTEL_SERVICE_NAME", z.string()) ?? resourceAttributes["service.name"] ??
    DEFAULT_SERVICE_NAME;
  return {
    endpoint: endpoint(env),
    protocol,
    // Signal-specific headers win over the general ones of the same name.
    headers: {
      ...keyValueList(env, "OTEL_EXPORTER_OTLP_HEADERS"),
      ...keyValueList(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
    },
    timeoutMs: parse(env, timeoutVariable, positiveInt) ?? 10_000,
    compression: parse(env, compressionVariable, z.enum(["gzip", "none"], "expected gzip or none")) ?? "none",
    serviceName,
    resourceAttributes,
    sampler: sampler(env),
    batch: batch(env),
  };
}
