/** The mock worker's configuration: WORKER_* environment variables, validated once at startup with zod. */

import { z } from "zod";

/** The mock worker's validated settings. */
export interface WorkerConfig {
  /** TCP port to listen on (0 picks a free one). */
  port: number;
  /** Interface to bind. */
  host: string;
  /** Model id served in /v1/models and used as the metrics' model_name. */
  model: string;
  /** Delay between two streamed tokens, in ms. */
  tokenDelayMs: number;
  /** Tokens per answer when the request does not ask for fewer. */
  maxTokens: number;
  /** Time to first token, in ms (also the latency before a non-streamed answer starts). */
  ttftMs: number;
  /** Requests generated at once; more wait in a queue (vLLM --max-num-seqs). */
  maxNumSeqs: number;
  /** KV-cache blocks of 16 tokens (prefix_cache.ts). */
  kvBlocks: number;
  /** Prefill time per prompt token not found in the prefix cache, in ms (added to the time to first token). */
  prefillMsPerToken: number;
  /** Path prefix of the API, e.g. "/openai" serves /openai/v1/... ("" by default). */
  basePath: string;
  /** When set, every /v1 request answers this status with an OpenAI error body. */
  failStatus: number | undefined;
  /** After SIGTERM: how long the worker keeps accepting (answering with `Connection: close`) before it stops, in ms. */
  drainDelayMs: number;
  /** How long in-flight requests may run after the worker stopped accepting before it exits anyway, in ms. */
  shutdownGraceMs: number;
  /** Log one line per request (method, path, status, X-Request-ID, names of auth headers received). */
  logRequests: boolean;
  /** Length of the vectors /v1/embeddings returns unless the request asks for `dimensions`. */
  embeddingDim: number;
}

/** A startup configuration error; its message names the variable and the bad value. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** One documented WORKER_* variable: its default (undefined when optional) and what it means. */
export interface VariableDoc {
  name: string;
  default: string | undefined;
  description: string;
}

function integer(min: number, max: number) {
  return z.string().regex(/^\d+$/, `must be a whole number from ${min} to ${max}`).transform(Number).pipe(
    z.number().min(min, `must be from ${min} to ${max}`).max(max, `must be from ${min} to ${max}`),
  );
}

/** A non-negative decimal number such as 0.05, at most `max`. */
function decimal(max: number) {
  return z.string().regex(/^\d*\.?\d+$/, `must be a number from 0 to ${max}, such as 0.05`).transform(Number).pipe(
    z.number().max(max, `must be from 0 to ${max}`),
  );
}

const basePath = z.string()
  .transform((path) => path.replace(/\/+$/, ""))
  .pipe(z.string().regex(/^(\/[A-Za-z0-9._~-]+)*$/, "must be empty or a path such as /openai (no query, no spaces)"));

const schema = z.object({
  WORKER_PORT: integer(0, 65535).default(8001),
  WORKER_HOST: z.string().min(1, "must not be empty").default("0.0.0.0"),
  WORKER_MODEL: z.string().regex(/^\S+$/, "must be a model id without spaces").default("mock-worker"),
  WORKER_TOKEN_DELAY_MS: integer(0, 60_000).default(25),
  WORKER_MAX_TOKENS: integer(1, 100_000).default(16),
  WORKER_TTFT_MS: integer(0, 600_000).default(100),
  WORKER_MAX_NUM_SEQS: integer(1, 1_000_000).default(256),
  WORKER_KV_BLOCKS: integer(1, 100_000_000).default(16_384),
  WORKER_PREFILL_MS_PER_TOKEN: decimal(1_000).default(0),
  WORKER_BASE_PATH: basePath.default(""),
  WORKER_FAIL_STATUS: integer(400, 599).optional(),
  WORKER_DRAIN_DELAY_MS: integer(0, 3_600_000).default(5_000),
  WORKER_SHUTDOWN_GRACE_MS: integer(0, 3_600_000).default(5_000),
  WORKER_LOG_REQUESTS: z.enum(["true", "false", "1", "0"], "must be true or false")
    .transform((value) => value === "true" || value === "1")
    .default(false),
  WORKER_EMBEDDING_DIM: integer(1, 65_536).default(384),
});

/** What each variable means; typed by the schema so a variable cannot go undocumented. */
const descriptions: Record<keyof typeof schema.shape, string> = {
  WORKER_PORT: "TCP port to listen on (0: any free port).",
  WORKER_HOST: "Interface to bind.",
  WORKER_MODEL: "Model id listed by `/v1/models` and used as the metrics' `model_name` label.",
  WORKER_TOKEN_DELAY_MS: "Delay between two generated tokens, in ms (0: as fast as possible).",
  WORKER_MAX_TOKENS: "Tokens per answer; a smaller `max_tokens`/`max_completion_tokens` cuts it (`length`).",
  WORKER_TTFT_MS: "Time to first token, in ms; a non-streamed answer also waits this long before generating.",
  WORKER_MAX_NUM_SEQS: "Requests generated at once (like vLLM `--max-num-seqs`); more wait in a queue.",
  WORKER_KV_BLOCKS:
    "KV-cache blocks of 16 tokens: running requests hold blocks, free ones keep cached prompt prefixes.",
  WORKER_PREFILL_MS_PER_TOKEN:
    "Prefill time per prompt token not found in the prefix cache, in ms (decimals allowed), added to the TTFT.",
  WORKER_BASE_PATH: "Path prefix of the API: `/openai` serves `/openai/v1/...` like a KServe predictor.",
  WORKER_FAIL_STATUS:
    "When set (400–599), every request but `/health` and `/metrics` gets this status and an OpenAI error body.",
  WORKER_DRAIN_DELAY_MS:
    "After SIGTERM, how long the worker keeps accepting (every answer says `Connection: close`) while Kubernetes " +
    "takes it out of its Service; SIGINT skips it.",
  WORKER_SHUTDOWN_GRACE_MS: "Then, how long in-flight requests may finish before the worker exits.",
  WORKER_LOG_REQUESTS: "`true`: a JSON line per request: path, status, `request_id`, `auth_headers` (names only).",
  WORKER_EMBEDDING_DIM: "Length of the unit vectors `/v1/embeddings` returns (a request's `dimensions` overrides it).",
};

/** Every WORKER_* variable with its default and meaning (the README table shows the same). */
export const variables: VariableDoc[] = Object.entries(descriptions).map(([name, description]) => {
  const parsed = schema.shape[name as keyof typeof schema.shape].safeParse(undefined);
  const value = parsed.success ? parsed.data : undefined;
  return { name, description, default: value === undefined ? undefined : String(value) };
});

/** Parses WORKER_* variables (empty means unset); throws ConfigError naming the first bad variable and its value. */
export function parseConfig(env: Record<string, string | undefined>): WorkerConfig {
  const input: Record<string, string> = {};
  for (const name of Object.keys(schema.shape)) {
    const value = env[name]?.trim();
    if (value) input[name] = value;
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const messages = result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name}=${JSON.stringify(env[name] ?? "")}: ${issue.message}`;
    });
    throw new ConfigError(`invalid worker configuration: ${messages.join("; ")}`);
  }
  const v = result.data;
  return {
    port: v.WORKER_PORT,
    host: v.WORKER_HOST,
    model: v.WORKER_MODEL,
    tokenDelayMs: v.WORKER_TOKEN_DELAY_MS,
    maxTokens: v.WORKER_MAX_TOKENS,
    ttftMs: v.WORKER_TTFT_MS,
    maxNumSeqs: v.WORKER_MAX_NUM_SEQS,
    kvBlocks: v.WORKER_KV_BLOCKS,
    prefillMsPerToken: v.WORKER_PREFILL_MS_PER_TOKEN,
    basePath: v.WORKER_BASE_PATH,
    failStatus: v.WORKER_FAIL_STATUS,
    drainDelayMs: v.WORKER_DRAIN_DELAY_MS,
    shutdownGraceMs: v.WORKER_SHUTDOWN_GRACE_MS,
    logRequests: v.WORKER_LOG_REQUESTS,
    embeddingDim: v.WORKER_EMBEDDING_DIM,
  };
}
