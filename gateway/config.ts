/** Gateway configuration: environment variables parsed and validated once at startup. */
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import {
  type PickerName,
  PICKERS,
  policyModel,
  policyUpstreams,
  type RoutePolicy,
  routePolicy,
  UPSTREAM_NAME,
} from "./route_policy.ts";
import { parseTracingConfig, type TracingConfig } from "./tracing_config.ts";
import { ConfigError } from "./config_error.ts";

/** Re-exported: callers of loadConfig catch it from here. */
export { ConfigError };

/** One server of an upstream (a pod, or a Service URL). */
export interface UpstreamEndpoint {
  /** Base URL without trailing slash, may carry a path (KServe: `http://host/openai`); operation paths follow it. */
  baseUrl: string;
  /** `<origin>/metrics`: model servers export Prometheus metrics at the root, whatever their API's base path. */
  metricsUrl: string;
}

/** A named upstream: its configured endpoints (each operation's path is appended to an endpoint's base URL). */
export interface Upstream {
  /** Name used in policies and the X-Nexus-Upstream header. */
  name: string;
  /** The first configured endpoint's base URL (a Service URL when the upstream is discovered): /v1/models asks it. */
  baseUrl: string;
  /** Every endpoint listed in GATEWAY_UPSTREAMS for this upstream, in order (at least one). */
  endpoints: UpstreamEndpoint[];
}

export type { PickerName, RoutePolicy } from "./route_policy.ts";

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
  /** How requests choose an endpoint within an upstream. */
  routing: RoutingConfig;
  /** OpenTelemetry traces (the OTEL_* variables); undefined when they are off. */
  tracing: TracingConfig | undefined;
}

/** Endpoint picking, load scraping and discovery settings. */
export interface RoutingConfig {
  /** The picker of every upstream unless a route policy names another. */
  picker: PickerName;
  /** How often each endpoint's /metrics is scraped for the `load` and `prefix` pickers. */
  loadScrapeMs: number;
  /** `prefix`: bytes of the serialized prompt per hashed block. */
  prefixBlockBytes: number;
  /** `prefix`: blocks remembered per upstream (LRU). */
  prefixCacheBlocks: number;
  /** `prefix`: how much more loaded than the least loaded endpoint the prefix's endpoint may be. */
  prefixLoadThreshold: number;
  /** `prefix`: share (0..1) of a request's prompt blocks an endpoint must hold for affinity. */
  prefixMinMatch: number;
  /** `prefix`: request header whose value pins a session to an endpoint; undefined: no session affinity. */
  sessionHeader?: string;
  /** Upstreams whose endpoints are discovered from Kubernetes EndpointSlices, by upstream name. */
  discovery: Map<string, DiscoveryTarget>;
}

/** A Kubernetes Service whose ready endpoints become an upstream's endpoints. */
export interface DiscoveryTarget {
  /** The Service's namespace; undefined: the gateway's own namespace. */
  namespace?: string;
  /** The Service name. */
  service: string;
  /** The EndpointSlice port to use, by name or number; undefined: the slice's first port. */
  port?: string | number;
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

function fraction(env: Env, name: string, options: { fallback: number }): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return options.fallback;
  const value = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || value > 1) {
    throw new ConfigError(name, `expected a number from 0 to 1, got ${JSON.stringify(raw)}`);
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

/** Builds one endpoint's URLs from its base URL; throws ConfigError naming `variable` and the upstream. */
export function parseEndpointUrl(
  raw: string,
  options: { upstream: string; variable: string },
): UpstreamEndpoint {
  const { upstream: name, variable } = options;
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
  return { baseUrl: `${url.origin}${url.pathname}`.replace(/\/+$/, ""), metricsUrl: `${url.origin}/metrics` };
}

/** Parses `name=url[,url...];name=url` into upstream records, in order; each URL is one endpoint. */
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
    const endpoints: UpstreamEndpoint[] = [];
    for (const item of trimmed.slice(eq + 1).split(",")) {
      const url = item.trim();
      if (!url) {
        throw new ConfigError(variable, `upstream "${name}" has an empty URL in ${JSON.stringify(trimmed)}`);
      }
      const endpoint = parseEndpointUrl(url, { upstream: name, variable });
      if (endpoints.some((e) => e.baseUrl === endpoint.baseUrl)) {
        throw new ConfigError(variable, `upstream "${name}" lists ${JSON.stringify(url)} twice`);
      }
      endpoints.push(endpoint);
    }
    upstreams.set(name, { name, baseUrl: endpoints[0].baseUrl, endpoints });
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

const SERVICE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Parses GATEWAY_DISCOVERY, `upstream=[namespace/]service[:port];...`; every upstream named must exist. */
export function parseDiscovery(
  raw: string | undefined,
  upstreams: ReadonlyMap<string, Upstream>,
): Map<string, DiscoveryTarget> {
  const variable = "GATEWAY_DISCOVERY";
  const targets = new Map<string, DiscoveryTarget>();
  for (const entry of (raw ?? "").split(/[;\n]/)) {
    const trimmed = entry.trim();
    if (!trimmed) continue;
    const match = /^([^=\s]+)\s*=\s*(?:([^/\s]+)\/)?([^:/\s]+)(?::(\S+))?$/.exec(trimmed);
    if (!match) {
      throw new ConfigError(variable, `expected upstream=[namespace/]service[:port], got ${JSON.stringify(trimmed)}`);
    }
    const [, name, namespace, service, port] = match;
    if (!upstreams.has(name)) {
      throw new ConfigError(
        variable,
        `unknown upstream ${JSON.stringify(name)} (GATEWAY_UPSTREAMS defines ${[...upstreams.keys()].join(", ")})`,
      );
    }
    if (targets.has(name)) throw new ConfigError(variable, `upstream "${name}" is listed twice`);
    for (const [what, value] of [["namespace", namespace], ["service", service]] as const) {
      if (value !== undefined && (value.length > 63 || !SERVICE_NAME.test(value))) {
        throw new ConfigError(variable, `upstream "${name}": ${what} ${JSON.stringify(value)} is not a DNS label`);
      }
    }
    let parsedPort: string | number | undefined = port;
    if (port !== undefined && /^\d+$/.test(port)) {
      parsedPort = Number(port);
      if (parsedPort < 1 || parsedPort > 65535) {
        throw new ConfigError(variable, `upstream "${name}": port ${port} is outside 1..65535`);
      }
    } else if (port !== undefined && !SERVICE_NAME.test(port)) {
      throw new ConfigError(
        variable,
        `upstream "${name}": port ${JSON.stringify(port)} is neither a number nor a name`,
      );
    }
    targets.set(name, { namespace, service, port: parsedPort });
  }
  return targets;
}

/** An HTTP header name (RFC 9110 token), lower-cased; undefined when unset. */
function headerName(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(raw)) {
    throw new ConfigError(name, `expected an HTTP header name such as x-session-id, got ${JSON.stringify(raw)}`);
  }
  return raw.toLowerCase();
}

/** Defaults of the endpoint picking settings (the chart's values schema uses them too). */
export const ROUTING_DEFAULTS = {
  picker: "least_request",
  loadScrapeMs: 100,
  prefixBlockBytes: 256,
  prefixCacheBlocks: 32_768,
  prefixLoadThreshold: 16,
  prefixMinMatch: 0.5,
} as const satisfies Partial<RoutingConfig>;

/** Reads the endpoint picking settings. */
function readRouting(env: Env, upstreams: ReadonlyMap<string, Upstream>): RoutingConfig {
  const d = ROUTING_DEFAULTS;
  return {
    picker: choice(env, "GATEWAY_PICKER", { allowed: PICKERS, fallback: d.picker }),
    loadScrapeMs: integer(env, "GATEWAY_LOAD_SCRAPE_MS", { fallback: d.loadScrapeMs, min: 10, max: 60_000 }),
    prefixBlockBytes: blockBytes(env, "GATEWAY_PREFIX_BLOCK_BYTES"),
    prefixCacheBlocks: integer(env, "GATEWAY_PREFIX_CACHE_BLOCKS", {
      fallback: d.prefixCacheBlocks,
      min: 1,
      max: 16_777_216,
    }),
    prefixLoadThreshold: integer(env, "GATEWAY_PREFIX_LOAD_THRESHOLD", {
      fallback: d.prefixLoadThreshold,
      min: 0,
      max: 1_000_000,
    }),
    prefixMinMatch: fraction(env, "GATEWAY_PREFIX_MIN_MATCH", { fallback: d.prefixMinMatch }),
    sessionHeader: headerName(env, "GATEWAY_SESSION_HEADER"),
    discovery: parseDiscovery(env.GATEWAY_DISCOVERY, upstreams),
  };
}

function blockBytes(env: Env, name: string): number {
  const value = integer(env, name, { fallback: ROUTING_DEFAULTS.prefixBlockBytes, min: 16, max: 65_536 });
  if (value % 16 !== 0) throw new ConfigError(name, `expected a multiple of 16, got ${value}`);
  return value;
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
    routing: readRouting(env, upstreams),
    tracing: parseTracingConfig(env),
  };
}
