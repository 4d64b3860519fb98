/**
 * The API operations the gateway serves, one record per endpoint: where the request names its model, whether it
 * streams, how its answer reports usage, and where it goes upstream. Adding an endpoint is adding a record here.
 */

/** How an answer reports token counts: the names of its input and output counts inside its `usage` object. */
export interface UsageFormat {
  /** Finds the input (prompt) count after `"usage"`: `"prompt_tokens": 12` or `"input_tokens": 12`. */
  readonly input: RegExp;
  /** Finds the output (completion) count; undefined when the answer has none (embeddings, rerank, score). */
  readonly output: RegExp | undefined;
}

/** How an operation counts against a key's token budgets (README, "Token budgets"). */
export interface TokenCost {
  /** The answer has generated (output) tokens: a completion is reserved besides the prompt. */
  readonly generates: boolean;
  /** The request members that cap the output, the first one present wins (`max_completion_tokens`, `max_tokens`). */
  readonly maxOutput: readonly string[];
}

/** One endpoint of the API. */
export interface Operation {
  /** Short name for logs and metrics (`chat`, `embeddings`, ...); two paths may share one (`rerank`). */
  readonly name: string;
  /**
   * Its `gen_ai.operation.name` in traces: the OpenTelemetry GenAI conventions' name where they have one (`chat`,
   * `text_completion`, `embeddings`), else the operation's own name.
   */
  readonly genAiOperation: string;
  /** The path clients call (always POST). */
  readonly path: string;
  /** The path appended to an upstream's base URL. */
  readonly upstreamPath: string;
  /** Where the request names its `model`: a member of a JSON body, or a field of a multipart/form-data body. */
  readonly modelIn: "json" | "form";
  /** The request may ask for a server-sent event stream with `stream: true`. */
  readonly streamable: boolean;
  /** How the answer reports usage; undefined when it carries none. */
  readonly usage: UsageFormat | undefined;
  /**
   * Streamed answers: the gateway asks the upstream for a usage chunk (`stream_options.include_usage`) and takes it
   * back out when the client did not ask for it (gateway/stream_usage.ts). Chat and completions only.
   */
  readonly askStreamUsage: boolean;
  /**
   * The JSON members that hold the prompt (the first found in the body): the `prefix` picker hashes the body from it
   * on. Empty: the whole body is hashed.
   */
  readonly prompt: readonly string[];
  /** A JSON member the request must carry besides `model`, checked before routing (`list`: a non-empty array). */
  readonly requires?: { readonly member: string; readonly list: boolean };
  /** How it counts against token budgets; undefined: it does not (tokenize, detokenize run no model). */
  readonly tokenCost: TokenCost | undefined;
}

/** A usage format from the names of its counts. */
function usage(input: string, output?: string): UsageFormat {
  return {
    input: new RegExp(`"${input}"\\s*:\\s*(\\d+)`),
    output: output === undefined ? undefined : new RegExp(`"${output}"\\s*:\\s*(\\d+)`),
  };
}

const COMPLETION_USAGE = usage("prompt_tokens", "completion_tokens");
const TOKEN_USAGE = usage("input_tokens", "output_tokens");
const PROMPT_USAGE = usage("prompt_tokens");

/** Chat: OpenAI's `max_completion_tokens` supersedes the older `max_tokens` (vLLM reads them the same way). */
const CHAT_COST: TokenCost = { generates: true, maxOutput: ["max_completion_tokens", "max_tokens"] };
const COMPLETION_COST: TokenCost = { generates: true, maxOutput: ["max_tokens"] };
const RESPONSE_COST: TokenCost = { generates: true, maxOutput: ["max_output_tokens"] };
/** Embeddings, rerank, score: the prompt only. */
const INPUT_COST: TokenCost = { generates: false, maxOutput: [] };
/** Audio: a multipart form, no cap to read; the completion reserved is the default. */
const AUDIO_COST: TokenCost = { generates: true, maxOutput: [] };

/** Reranking: Cohere's v1 and v2 paths, which vLLM serves alike. */
const RERANK = {
  name: "rerank",
  genAiOperation: "rerank",
  modelIn: "json",
  streamable: false,
  usage: PROMPT_USAGE,
  prompt: ["query"],
  askStreamUsage: false,
  tokenCost: INPUT_COST,
} as const satisfies Omit<Operation, "path" | "upstreamPath">;

/** Every operation, in the order the README lists them. */
export const OPERATIONS: readonly Operation[] = [
  {
    name: "chat",
    genAiOperation: "chat",
    path: "/v1/chat/completions",
    upstreamPath: "/v1/chat/completions",
    modelIn: "json",
    streamable: true,
    usage: COMPLETION_USAGE,
    prompt: ["messages"],
    askStreamUsage: true,
    requires: { member: "messages", list: true },
    tokenCost: CHAT_COST,
  },
  {
    name: "completions",
    genAiOperation: "text_completion",
    path: "/v1/completions",
    upstreamPath: "/v1/completions",
    modelIn: "json",
    streamable: true,
    usage: COMPLETION_USAGE,
    prompt: ["prompt"],
    askStreamUsage: true,
    requires: { member: "prompt", list: false },
    tokenCost: COMPLETION_COST,
  },
  {
    name: "embeddings",
    genAiOperation: "embeddings",
    path: "/v1/embeddings",
    upstreamPath: "/v1/embeddings",
    modelIn: "json",
    streamable: false,
    usage: PROMPT_USAGE,
    prompt: ["input"],
    askStreamUsage: false,
    tokenCost: INPUT_COST,
  },
  {
    name: "responses",
    genAiOperation: "chat",
    path: "/v1/responses",
    upstreamPath: "/v1/responses",
    modelIn: "json",
    streamable: true,
    usage: TOKEN_USAGE,
    prompt: ["instructions", "input"],
    askStreamUsage: false,
    tokenCost: RESPONSE_COST,
  },
  { ...RERANK, path: "/v1/rerank", upstreamPath: "/v1/rerank" },
  { ...RERANK, path: "/v2/rerank", upstreamPath: "/v2/rerank" },
  {
    name: "score",
    genAiOperation: "score",
    path: "/v1/score",
    upstreamPath: "/v1/score",
    modelIn: "json",
    streamable: false,
    usage: PROMPT_USAGE,
    prompt: ["text_1"],
    askStreamUsage: false,
    tokenCost: INPUT_COST,
  },
  {
    name: "tokenize",
    genAiOperation: "tokenize",
    path: "/tokenize",
    upstreamPath: "/tokenize",
    modelIn: "json",
    streamable: false,
    usage: undefined,
    prompt: ["messages", "prompt"],
    askStreamUsage: false,
    tokenCost: undefined,
  },
  {
    name: "detokenize",
    genAiOperation: "detokenize",
    path: "/detokenize",
    upstreamPath: "/detokenize",
    modelIn: "json",
    streamable: false,
    usage: undefined,
    prompt: [],
    askStreamUsage: false,
    tokenCost: undefined,
  },
  {
    name: "transcriptions",
    genAiOperation: "transcriptions",
    path: "/v1/audio/transcriptions",
    upstreamPath: "/v1/audio/transcriptions",
    modelIn: "form",
    streamable: false,
    usage: TOKEN_USAGE,
    prompt: [],
    askStreamUsage: false,
    tokenCost: AUDIO_COST,
  },
  {
    name: "translations",
    genAiOperation: "translations",
    path: "/v1/audio/translations",
    upstreamPath: "/v1/audio/translations",
    modelIn: "form",
    streamable: false,
    usage: TOKEN_USAGE,
    prompt: [],
    askStreamUsage: false,
    tokenCost: AUDIO_COST,
  },
];

/** The operations by client path. */
export const OPERATIONS_BY_PATH: ReadonlyMap<string, Operation> = new Map(OPERATIONS.map((op) => [op.path, op]));
