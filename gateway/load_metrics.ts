/**
 * Reading a model server's load out of its Prometheus /metrics text. Each backend is a record of metric names (the
 * Gateway API Inference Extension's model-server protocol); the parser takes the first backend whose queue or running
 * count appears. Parsing is tolerant: any labels, HELP/TYPE lines, timestamps, CRLF; NaN and infinite samples are
 * skipped. Several series of one metric (data-parallel engines) are summed, KV use is averaged.
 */

/** The metric names one kind of model server exports its load under. */
export interface LoadBackend {
  name: string;
  /** Requests queued (first name found wins). */
  waiting: readonly string[];
  /** Requests generating. */
  running: readonly string[];
  /** KV-cache use as a fraction 0..1. */
  kvUsage: readonly string[];
}

/** The backends the scraper understands. */
export const LOAD_BACKENDS: readonly LoadBackend[] = [
  {
    name: "vllm",
    waiting: ["vllm:num_requests_waiting"],
    running: ["vllm:num_requests_running"],
    // vLLM V1 name first, then the V0 name.
    kvUsage: ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"],
  },
  {
    name: "sglang",
    waiting: ["sglang:num_queue_reqs"],
    running: ["sglang:num_running_reqs"],
    kvUsage: ["sglang:token_usage"],
  },
];

/**
 * `?name[]=...` for every metric above: prometheus_client (vLLM, SGLang) then answers with only those series, a few
 * hundred bytes instead of tens of kilobytes. Servers that do not know the parameter ignore it.
 */
export const LOAD_METRICS_QUERY = "?" +
  LOAD_BACKENDS.flatMap((b) => [...b.waiting, ...b.running, ...b.kvUsage])
    .map((name) => `name[]=${encodeURIComponent(name)}`).join("&");

/** A model server's load as read from one scrape. */
export interface ParsedLoad {
  backend: string;
  waiting: number;
  running: number;
  kvUsage: number;
}

/** The load in a /metrics text, or undefined when no known backend's queue or running metric is in it. */
export function parseLoad(text: string): ParsedLoad | undefined {
  for (const backend of LOAD_BACKENDS) {
    const waiting = firstFound(text, backend.waiting);
    const running = firstFound(text, backend.running);
    if (waiting === undefined && running === undefined) continue;
    const kv = firstFound(text, backend.kvUsage);
    const kvUsage = kv === undefined ? 0 : Math.min(1, Math.max(0, kv.sum / kv.count));
    return { backend: backend.name, waiting: waiting?.sum ?? 0, running: running?.sum ?? 0, kvUsage };
  }
  return undefined;
}

function firstFound(text: string, names: readonly string[]): { sum: number; count: number } | undefined {
  for (const name of names) {
    const found = samples(text, name);
    if (found.count > 0) return found;
  }
  return undefined;
}

/** Sum and count of the finite samples of metric `name` (exactly that name, any labels). */
export function samples(text: string, name: string): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1)) {
    if (at > 0 && text.charCodeAt(at - 1) !== 10) continue; // not at a line start: a comment or another name
    let i = at + name.length;
    const next = text.charCodeAt(i);
    if (next === 123) { // "{": skip the labels, minding quoted values
      i = labelsEnd(text, i);
      if (i < 0) continue;
    } else if (next !== 32 && next !== 9) {
      continue; // a longer name that starts with this one
    }
    const value = sampleValue(text, i);
    if (Number.isFinite(value)) {
      sum += value;
      count++;
    }
  }
  return { sum, count };
}

/** Index just after the `}` that closes the label set opening at `open`; -1 when the line ends first. */
function labelsEnd(text: string, open: number): number {
  let quoted = false;
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) return -1;
    if (quoted) {
      if (c === 92) i++; // backslash escapes the next character
      else if (c === 34) quoted = false;
    } else if (c === 34) {
      quoted = true;
    } else if (c === 125) {
      return i + 1;
    }
  }
  return -1;
}

/** The sample value token after position `from` (timestamps after it ignored); NaN when missing or malformed. */
function sampleValue(text: string, from: number): number {
  let start = from;
  while (text.charCodeAt(start) === 32 || text.charCodeAt(start) === 9) start++;
  let end = start;
  while (end < text.length) {
    const c = text.charCodeAt(end);
    if (c === 32 || c === 9 || c === 10 || c === 13) break;
    end++;
  }
  if (end === start) return NaN;
  const token = text.slice(start, end);
  if (token === "+Inf" || token === "Inf") return Infinity;
  if (token === "-Inf") return -Infinity;
  return Number(token); // "NaN" and garbage give NaN
}
