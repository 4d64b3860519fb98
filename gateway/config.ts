/** Gateway configuration: environment variables parsed and validated once at startup. */
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { policyModel, policyUpstreams, type RoutePolicy, routePolicy, UPSTREAM_NAME } from "./route_policy.ts";

/** A bad configuration value; the message names the variable (and field) and the value. */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/** A named upstream: where its API is (each operation's path is appended to the base URL). */
export interface Upstream {
  /** Name used in policies and the X-Nexus-Upstream header. */
  name: string;
  /** Base URL without trailing slash, may carry a path (KServe: `http://host/openai`). */
  baseUrl: string;
}

export type { RoutePolicy } from "./route_policy.ts";

/** One API key with its identity and limits. */
export interface ApiKey {
  /** Name used in logs and metrics, never the key itself. */
  name: string;
  /** The secret. */
  key: string;
  /** Requests per minute; 0 means unlimited. */
  rpm: number;
  /** Tokens (prompt + completion) per minute; 0 means no token budget. */
  tpm: number;
  /** Tokens (prompt + completion) per day; 0 means no daily quota. */
  tokensPerDay: number;
  /** Models this key may use; undefined means all. */
  models?: string[];
}

/** The budgets a key gets when the keys file does not set its own. */
export interface KeyDefaults {
  /** GATEWAY_RATE_LIMIT_RPM. */
  rpm: number;
  /** GATEWAY_RATE_LIMIT_TPM. */
  tpm: number;
  /** GATEWAY_RATE_LIMIT_TOKENS_PER_DAY. */
  tokensPerDay: number;
}

/** Log levels in increasing severity. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/** The validated gateway configuration. */
export interface Config {
  host: string;
  port: number;
  /** Port of the separate /metrics listener (never the API port). */
  metricsPort: number;
  upstreams: Map<string, Upstream>;
  defaultUpstream?: string;
  policies: Map<string, RoutePolicy>;
  /** false only when GATEWAY_AUTH=off. */
  authEnabled: boolean;
  apiKeys: ApiKey[];
  rateLimitRpm: number;
  /** Default tokens per minute of a key (and of `anonymous`); 0: none. */
  rateLimitTpm: number;
  /** Default tokens per day of a key (and of `anonymous`); 0: none. */
  rateLimitTokensPerDay: number;
  /** Completion tokens a request reserves when it names no max_tokens (capped to fit the key's token budgets). */
  rateLimitDefaultMaxTokens: number;
  redisUrl?: string;
  redisTimeoutMs: number;
  /** How long a replica may spend a requests-per-minute lease (ms); 0: one Redis call per request. */
  rateLimitLeaseMs: number;
  rateLimitFail: "open" | "closed";
  requestTimeoutMs: number;
  firstByteTimeoutMs: number;
  maxBodyBytes: number;
  /** After SIGTERM: seconds the gateway keeps accepting (and reports not ready) before it stops accepting. */
  drainDelaySeconds: number;
  drainGraceSeconds: number;
  /** Most connections the pooled client opens to one upstream origin (host:port); more requests wait in line. */
  upstreamMaxConnections: number;
  ejectAfterFailures: number;
  ejectSeconds: number;
  logLevel: LogLevel;
  /** The upstream HTTP client: Deno's fetch, or the pooled HTTP/1.1 client (gateway/upstream_pool.ts). */
  upstreamClient: "fetch" | "pool";
}

const NAME = UPSTREAM_NAME;

const keysFileSchema = z.strictObject({
  keys: z.array(z.strictObject({
    name: z.string().regex(NAME, "key names use letters, digits, '_', '.', '-'"),
    key: z.string().min(1),
    rpm: z.number().int().min(0).optional(),
    tpm: z.number().int().min(0).optional(),
    tokensPerDay: z.number().int().min(0).optional(),
    models: z.array(z.string().min(1)).optional(),
  })).min(1),
});

type Env = Record<string, string | undefined>;

/** `["model"].percent`, `keys[0].name`: the first key of a map in brackets, identifiers with dots. */
function formatPath(path: PropertyKey[], options: { mapRoot: boolean }): string {
  return path.map((p, i) => {
    if (typeof p === "number") return `[${p}]`;
    const key = String(p);
    if ((i === 0 && options.mapRoot) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `[${JSON.stringify(key)}]`;
    return i === 0 ? key : `.${key}`;
  }).join("");
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function zodFailure(variable: string, error: z.ZodError, input: unknown, prefix: PropertyKey[] = []): ConfigError {
  const issue = error.issues[0];
  const path = [...prefix, ...issue.path as PropertyKey[]];
  const got = valueAt(input, path);
  const shown = got === undefined ? "missing" : JSON.stringify(got);
  return new ConfigError(
    variable,
    `${formatPath(path, { mapRoot: true }) || "value"}: ${issue.message} (got ${shown})`,
  );
}

function integer(env: Env, name: string, options: { fallback: number; min: number; max?: number }): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return options.fallback;
  const value = Number(raw);
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isInteger(value) || value < options.min || value > max) {
    throw new ConfigError(name, `expected an integer in ${options.min}..${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function choice<T extends string>(env: Env, name: string, options: { allowed: readonly T[]; fallback: T }): T {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === "") return options.fallback;
  if (!(options.allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `expected one of ${options.allowed.join("|")}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

/** Builds an upstream record from its name and base URL; throws ConfigError naming `variable`. */
function parseUpstreamUrl(name: string, raw: string, variable = "GATEWAY_UPSTREAMS"): Upstream {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(variable, `upstream "${name}" has a bad URL ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(variable, `upstream "${name}" URL must be http or https, got ${JSON.stringify(raw)}`);
  }
  if (url.search || url.hash) {
    throw new ConfigError(
      variable,
      `upstream "${name}" URL must not carry a query or fragment: ${JSON.stringify(raw)}`,
    );
  }
  return { name, baseUrl: `${url.origin}${url.pathname}`.replace(/\/+$/, "") };
}

/** Parses `name=url;name=url` into upstream records, in order. */
export function parseUpstreams(raw: string | undefined): Map<string, Upstream> {
  const variable = "GATEWAY_UPSTREAMS";
  const upstreams = new Map<string, Upstream>();
  for (const entry of (raw ?? "").split(/[;\n]/)) {
    const trimmed = entry.trim();
    if (!trimmed) continue;
    const eq = trimmed.indexOf("=");
    if (eq <= 0) throw new ConfigError(variable, `expected name=url, got ${JSON.stringify(trimmed)}`);
    const name = trimmed.slice(0, eq).trim();
    if (!NAME.test(name)) throw new ConfigError(variable, `bad upstream name ${JSON.stringify(name)}`);
    if (upstreams.has(name)) throw new ConfigError(variable, `upstream "${name}" is defined twice`);
    upstreams.set(name, parseUpstreamUrl(name, trimmed.slice(eq + 1).trim(), variable));
  }
  if (upstreams.size === 0) {
    throw new ConfigError(
      variable,
      `at least one upstream is required (name=url;name=url), got ${JSON.stringify(raw ?? "")}`,
    );
  }
  return upstreams;
}

/** Parses GATEWAY_ROUTE_POLICIES (JSON keyed by model) and checks every upstream it names exists. */
export function parsePolicies(
  raw: string | undefined,
  upstreams: ReadonlyMap<string, Upstream>,
): Map<string, RoutePolicy> {
  const variable = "GATEWAY_ROUTE_POLICIES";
  const policies = new Map<string, RoutePolicy>();
  if (raw === undefined || raw.trim() === "") return policies;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(variable, `invalid JSON (${(error as Error).message}): ${JSON.stringify(raw)}`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new ConfigError(variable, `expected a JSON object keyed by model, got ${JSON.stringify(raw)}`);
  }
  // Entry by entry (not z.record) so any model name, even "__proto__", stays an own key.
  for (const [model, value] of Object.entries(json)) {
    if (!policyModel.safeParse(model).success) {
      throw new ConfigError(variable, `${JSON.stringify(model)}: a model name must not be empty`);
    }
    const parsed = routePolicy.safeParse(value);
    if (!parsed.success) throw zodFailure(variable, parsed.error, json, [model]);
    const policy: RoutePolicy = parsed.data;
    for (const [field, name] of policyUpstreams(policy)) {
      if (!upstreams.has(name)) {
        throw new ConfigError(
          variable,
          `[${JSON.stringify(model)}].${field}: unknown upstream ${JSON.stringify(name)} ` +
            `(GATEWAY_UPSTREAMS defines ${[...upstreams.keys()].join(", ")})`,
        );
      }
    }
    policies.set(model, policy);
  }
  return policies;
}

/** Parses the contents of GATEWAY_API_KEYS_FILE (JSON or YAML) into keys; `defaults` fill the budgets a key omits. */
export function parseKeysFile(text: string, options: { path: string; defaults: KeyDefaults }): ApiKey[] {
  const variable = "GATEWAY_API_KEYS_FILE";
  let data: unknown;
  try {
    data = parseYaml(text); // YAML is a superset of JSON
  } catch (error) {
    throw new ConfigError(variable, `${options.path} is neither JSON nor YAML: ${(error as Error).message}`);
  }
  const parsed = keysFileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // Never echo a value here: it could be a key.
    throw new ConfigError(
      variable,
      `${options.path}: ${formatPath(issue.path as PropertyKey[], { mapRoot: false }) || "value"}: ${issue.message}`,
    );
  }
  return parsed.data.keys.map((k) => ({
    name: k.name,
    key: k.key,
    rpm: k.rpm ?? options.defaults.rpm,
    tpm: k.tpm ?? options.defaults.tpm,
    tokensPerDay: k.tokensPerDay ?? options.defaults.tokensPerDay,
    models: k.models,
  }));
}

function readKeys(env: Env, defaults: KeyDefaults): ApiKey[] {
  const keys: ApiKey[] = [];
  const list = (env.GATEWAY_API_KEYS ?? "").split(",").map((k) => k.trim()).filter(Boolean);
  list.forEach((key, i) => keys.push({ name: `key${i + 1}`, key, ...defaults }));
  const file = env.GATEWAY_API_KEYS_FILE?.trim();
  if (file) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch (error) {
      throw new ConfigError(
        "GATEWAY_API_KEYS_FILE",
        `cannot read ${JSON.stringify(file)}: ${(error as Error).message}`,
      );
    }
    keys.push(...parseKeysFile(text, { path: file, defaults }));
  }
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k.key)) {
      throw new ConfigError("GATEWAY_API_KEYS", `the same key is configured twice (name "${k.name}")`);
    }
    seen.add(k.key);
  }
  return keys;
}

/** Reads and validates the whole gateway configuration from an environment map. */
export function loadConfig(env: Env = Deno.env.toObject()): Config {
  const upstreams = parseUpstreams(env.GATEWAY_UPSTREAMS);
  const defaultUpstream = env.GATEWAY_DEFAULT_UPSTREAM?.trim() || undefined;
  if (defaultUpstream !== undefined && !upstreams.has(defaultUpstream)) {
    throw new ConfigError(
      "GATEWAY_DEFAULT_UPSTREAM",
      `unknown upstream ${JSON.stringify(defaultUpstream)} (GATEWAY_UPSTREAMS defines ${
        [...upstreams.keys()].join(", ")
      })`,
    );
  }
  const policies = parsePolicies(env.GATEWAY_ROUTE_POLICIES, upstreams);
  const authEnabled = choice(env, "GATEWAY_AUTH", { allowed: ["on", "off"], fallback: "on" }) === "on";
  const defaults: KeyDefaults = {
    rpm: integer(env, "GATEWAY_RATE_LIMIT_RPM", { fallback: 60, min: 0 }),
    tpm: integer(env, "GATEWAY_RATE_LIMIT_TPM", { fallback: 0, min: 0 }),
    tokensPerDay: integer(env, "GATEWAY_RATE_LIMIT_TOKENS_PER_DAY", { fallback: 0, min: 0 }),
  };
  const apiKeys = readKeys(env, defaults);
  if (authEnabled && apiKeys.length === 0) {
    throw new ConfigError(
      "GATEWAY_API_KEYS",
      "no API keys configured (set GATEWAY_API_KEYS or GATEWAY_API_KEYS_FILE, or GATEWAY_AUTH=off to disable auth)",
    );
  }
  const redisUrl = env.REDIS_URL?.trim() || undefined;
  if (redisUrl !== undefined) {
    let ok = false;
    try {
      ok = ["redis:", "rediss:"].includes(new URL(redisUrl).protocol);
    } catch { /* reported below */ }
    if (!ok) {
      throw new ConfigError("REDIS_URL", `expected redis://host:port or rediss://..., got a value that is not one`);
    }
  }
  const port = integer(env, "GATEWAY_PORT", { fallback: 8000, min: 0, max: 65535 });
  const metricsPort = integer(env, "GATEWAY_METRICS_PORT", { fallback: 9464, min: 0, max: 65535 });
  if (metricsPort !== 0 && metricsPort === port) {
    throw new ConfigError("GATEWAY_METRICS_PORT", `must differ from GATEWAY_PORT (both are ${port})`);
  }
  return {
    host: env.GATEWAY_HOST?.trim() || "0.0.0.0",
    port,
    metricsPort,
    upstreams,
    defaultUpstream,
    policies,
    authEnabled,
    apiKeys,
    rateLimitRpm: defaults.rpm,
    rateLimitTpm: defaults.tpm,
    rateLimitTokensPerDay: defaults.tokensPerDay,
    rateLimitDefaultMaxTokens: integer(env, "GATEWAY_RATE_LIMIT_DEFAULT_MAX_TOKENS", { fallback: 1024, min: 0 }),
    redisUrl,
    redisTimeoutMs: integer(env, "GATEWAY_REDIS_TIMEOUT_MS", { fallback: 100, min: 1 }),
    rateLimitLeaseMs: integer(env, "GATEWAY_RATE_LIMIT_LEASE_MS", { fallback: 1000, min: 0, max: 60_000 }),
    rateLimitFail: choice(env, "GATEWAY_RATE_LIMIT_FAIL", { allowed: ["open", "closed"], fallback: "open" }),
    requestTimeoutMs: integer(env, "GATEWAY_REQUEST_TIMEOUT_MS", { fallback: 600_000, min: 1 }),
    firstByteTimeoutMs: integer(env, "GATEWAY_FIRST_BYTE_TIMEOUT_MS", { fallback: 300_000, min: 1 }),
    maxBodyBytes: integer(env, "GATEWAY_MAX_BODY_BYTES", { fallback: 8 * 1024 * 1024, min: 1 }),
    drainDelaySeconds: integer(env, "GATEWAY_DRAIN_DELAY_SECONDS", { fallback: 5, min: 0 }),
    drainGraceSeconds: integer(env, "GATEWAY_DRAIN_GRACE_SECONDS", { fallback: 30, min: 0 }),
    upstreamMaxConnections: integer(env, "GATEWAY_UPSTREAM_MAX_CONNECTIONS", { fallback: 256, min: 1 }),
    ejectAfterFailures: integer(env, "GATEWAY_EJECT_AFTER_FAILURES", { fallback: 5, min: 0 }),
    ejectSeconds: integer(env, "GATEWAY_EJECT_SECONDS", { fallback: 30, min: 1 }),
    logLevel: choice(env, "GATEWAY_LOG_LEVEL", { allowed: LOG_LEVELS, fallback: "info" }),
    upstreamClient: choice(env, "GATEWAY_UPSTREAM_CLIENT", { allowed: ["pool", "fetch"], fallback: "pool" }),
  };
}
