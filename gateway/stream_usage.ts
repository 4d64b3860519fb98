/**
 * Exact token counts for streams: the gateway asks the upstream for `usage` on every streamed request, and when the
 * client did not ask for it, takes the usage-only chunk (and the `"usage":null` members that asking adds to the
 * other chunks) back out, so the client gets the stream it would have had, byte for byte.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** `{"stream_options":{"include_usage":true},` put in front of the client's other members. */
const ASK_USAGE = encoder.encode('{"stream_options":{"include_usage":true},');
const OPEN_BRACE = 0x7b;
const LF = 0x0a;
const QUOTE = 0x22;
const SPACE = 0x20;
const COMMA = 0x2c;
const USAGE_KEY = encoder.encode('"usage"');
const NULL = encoder.encode("null");
/** An unterminated event longer than this is passed on as it is (the stream is not SSE as we know it). */
const MAX_CARRY = 64 * 1024;

/** Token counts from an upstream's `usage`, and the model its answer names. */
export interface Usage {
  promptTokens?: number;
  completionTokens?: number;
  /** The answer's `model` (the model that generated it), when found next to the usage. */
  model?: string;
}

/**
 * The body to send upstream for a streamed request, and whether its answer must be stripped of the usage the client
 * did not ask for. A client that asked for usage (or for vLLM's continuous usage stats) gets its body unchanged.
 */
export function askForUsage(
  body: Uint8Array<ArrayBuffer>,
  fields: Record<string, unknown>,
): { body: Uint8Array<ArrayBuffer>; strip: boolean } {
  const options = fields.stream_options;
  if (options === undefined) {
    const start = body.indexOf(OPEN_BRACE); // only whitespace (or a BOM) can come before the object's brace
    const out = new Uint8Array(ASK_USAGE.byteLength + body.byteLength - start - 1);
    out.set(ASK_USAGE);
    out.set(body.subarray(start + 1), ASK_USAGE.byteLength);
    return { body: out, strip: true };
  }
  if (options !== null && (typeof options !== "object" || Array.isArray(options))) return { body, strip: false };
  const given = (options ?? {}) as Record<string, unknown>;
  if (given.include_usage === true || given.continuous_usage_stats === true) return { body, strip: false };
  const asked = { ...fields, stream_options: { ...given, include_usage: true } };
  return { body: encoder.encode(JSON.stringify(asked)) as Uint8Array<ArrayBuffer>, strip: true };
}

/**
 * Takes the usage the gateway asked for out of an SSE stream: the chunk with `usage` and no choices is dropped (its
 * counts kept in `usage`), `"usage":null` members are removed. Works on whole events; a partial one waits for its end.
 */
export class UsageStripper {
  /** The counts of the dropped usage chunk, once it passed. */
  usage: Usage = {};
  #carry: Uint8Array | undefined;

  /** The bytes of `chunk` to pass on now (possibly none). */
  push(chunk: Uint8Array): Uint8Array {
    let data = chunk;
    if (this.#carry !== undefined) {
      data = new Uint8Array(this.#carry.byteLength + chunk.byteLength);
      data.set(this.#carry);
      data.set(chunk, this.#carry.byteLength);
      this.#carry = undefined;
    }
    const end = lastEventEnd(data);
    if (end < 0) {
      if (data.byteLength > MAX_CARRY) return data;
      this.#carry = data === chunk ? chunk.slice() : data;
      return EMPTY;
    }
    if (end < data.byteLength) this.#carry = data.slice(end);
    return this.#strip(end < data.byteLength ? data.subarray(0, end) : data);
  }

  /** Whatever is left when the upstream's stream ends. */
  end(): Uint8Array {
    const rest = this.#carry ?? EMPTY;
    this.#carry = undefined;
    return rest;
  }

  /** Complete events with the usage members and the usage-only event cut out. */
  #strip(events: Uint8Array): Uint8Array {
    let cuts: number[] | undefined; // [from, to) pairs, in order
    for (let at = indexOfKey(events, 0); at >= 0; at = indexOfKey(events, at + USAGE_KEY.byteLength)) {
      let value = at + USAGE_KEY.byteLength;
      while (events[value] === SPACE) value++;
      if (events[value] !== 0x3a) continue; // ':' (a "usage" string that is not a key)
      value++;
      while (events[value] === SPACE) value++;
      const cut = startsWith(events, value, NULL)
        ? memberCut(events, { key: at, end: value + NULL.byteLength })
        : this.#usageEventCut(events, at);
      if (cut === undefined) continue;
      (cuts ??= []).push(cut[0], cut[1]);
      at = cut[1] - USAGE_KEY.byteLength;
    }
    return cuts === undefined ? events : without(events, cuts);
  }

  /** The event around a usage object, when it is the usage-only chunk: its range, its counts kept. */
  #usageEventCut(events: Uint8Array, at: number): [number, number] | undefined {
    const start = eventStart(events, at);
    const end = eventEnd(events, at);
    const text = decoder.decode(events.subarray(start, end)).trim();
    if (!text.startsWith("data:")) return undefined;
    let chunk: { model?: unknown; choices?: unknown; usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } };
    try {
      chunk = JSON.parse(text.slice(5));
    } catch {
      return undefined;
    }
    if (!Array.isArray(chunk.choices) || chunk.choices.length > 0 || typeof chunk.usage !== "object") return undefined;
    const { prompt_tokens: prompt, completion_tokens: completion } = chunk.usage ?? {};
    this.usage = {
      promptTokens: typeof prompt === "number" ? prompt : undefined,
      completionTokens: typeof completion === "number" ? completion : undefined,
      model: typeof chunk.model === "string" ? chunk.model : undefined,
    };
    return [start, end];
  }
}

const EMPTY = new Uint8Array(0);

/** The index just past the last `\n\n` in `data`, or -1. */
function lastEventEnd(data: Uint8Array): number {
  for (let i = data.lastIndexOf(LF); i > 0; i = data.lastIndexOf(LF, i - 1)) {
    if (data[i - 1] === LF) return i + 1;
  }
  return -1;
}

/** Where the event holding `at` starts: just past the previous `\n\n`, or 0. */
function eventStart(data: Uint8Array, at: number): number {
  for (let i = data.lastIndexOf(LF, at); i > 0; i = data.lastIndexOf(LF, i - 1)) {
    if (data[i - 1] === LF) return i + 1;
  }
  return 0;
}

/** Where the event holding `at` ends: just past its `\n\n` (the data given holds whole events). */
function eventEnd(data: Uint8Array, at: number): number {
  for (let i = data.indexOf(LF, at); i >= 0; i = data.indexOf(LF, i + 1)) {
    if (data[i + 1] === LF) return i + 2;
  }
  return data.byteLength;
}

/** The next `"usage"` at or after `from`, or -1. */
function indexOfKey(data: Uint8Array, from: number): number {
  for (let i = data.indexOf(0x75, from); i >= 0; i = data.indexOf(0x75, i + 1)) { // 'u'
    if (data[i - 1] === QUOTE && startsWith(data, i - 1, USAGE_KEY)) return i - 1;
  }
  return -1;
}

function startsWith(data: Uint8Array, at: number, bytes: Uint8Array): boolean {
  if (at < 0 || at + bytes.byteLength > data.byteLength) return false;
  for (let i = 0; i < bytes.byteLength; i++) if (data[at + i] !== bytes[i]) return false;
  return true;
}

/** The bytes to cut for a `"usage":null` member: with the comma before it, or else the one after it. */
function memberCut(data: Uint8Array, member: { key: number; end: number }): [number, number] | undefined {
  let before = member.key - 1;
  while (data[before] === SPACE) before--;
  if (data[before] === COMMA) return [before, member.end];
  let after = member.end;
  while (data[after] === SPACE) after++;
  if (data[after] === COMMA) return [member.key, after + 1];
  return undefined; // the only member: leave it
}

/** `data` without the [from, to) ranges in `cuts`. */
function without(data: Uint8Array, cuts: number[]): Uint8Array {
  let removed = 0;
  for (let i = 0; i < cuts.length; i += 2) removed += cuts[i + 1] - cuts[i];
  const out = new Uint8Array(data.byteLength - removed);
  let from = 0;
  let offset = 0;
  for (let i = 0; i < cuts.length; i += 2) {
    out.set(data.subarray(from, cuts[i]), offset);
    offset += cuts[i] - from;
    from = cuts[i + 1];
  }
  out.set(data.subarray(from), offset);
  return out;
}
