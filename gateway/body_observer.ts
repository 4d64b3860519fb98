/**
 * Passing an upstream's answer body through to the client chunk by chunk, noting when the first bytes came and
 * reading the answer's `usage` at the end (from the body's last bytes, or from the usage chunk the gateway asked for).
 */
import { errorEvent, type HttpError } from "./errors.ts";
import type { UsageFormat } from "./operations.ts";
import { type Usage, UsageStripper } from "./stream_usage.ts";
import type { UpstreamAnswer } from "./upstream_client.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const LF = 10;
/** Bytes at the end of a body searched for `usage` (it comes last in both JSON answers and SSE streams). */
export const TAIL_BYTES = 4096;

/** How an observed body ended. */
export interface BodyEnd {
  /** The client went away (cancelled the stream). */
  aborted: boolean;
  /** The upstream's body failed (broke off, timed out); its error text. */
  error?: string;
  /** The answer's usage (empty when aborted or absent). */
  usage: Usage;
}

/** Who is told about an observed body: its first bytes, and its end. */
export interface BodyOwner {
  /** The first non-empty chunk arrived. */
  bodyStarted(): void;
  /** The body is over (exactly once); an error returned ends the client's stream with an error event. */
  bodyEnded(end: BodyEnd): HttpError | undefined;
}

/**
 * Passes an upstream body through chunk by chunk (pull-based, no buffering: each chunk the upstream client read is
 * handed on as it is), keeping the last few chunks to read `usage` once the body is complete (or, when the gateway
 * asked for usage itself, taking the usage out as it passes).
 */
export class BodyObserver {
  /** The body the client reads. */
  readonly stream: ReadableStream<Uint8Array>;
  readonly #source: UpstreamAnswer;
  readonly #owner: BodyOwner;
  readonly #usage: UsageFormat | undefined;
  readonly #stripper: UsageStripper | undefined;
  #started = false;
  #tail: Uint8Array[] = [];
  #tailBytes = 0;
  /** The last byte passed on ended an SSE event (an error event can follow it cleanly). */
  #atEventEnd = true;
  #finished = false;

  constructor(
    source: UpstreamAnswer,
    options: { owner: BodyOwner; usage: UsageFormat | undefined; stripUsage: boolean },
  ) {
    this.#source = source;
    this.#owner = options.owner;
    this.#usage = options.usage;
    this.#stripper = options.stripUsage ? new UsageStripper() : undefined;
    this.stream = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: () => this.#cancel(),
    }, { highWaterMark: 0 });
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    let value: Uint8Array;
    try {
      do {
        const chunk = await this.#source.read();
        if (chunk === null) return this.#close(controller);
        value = chunk;
        if (value.byteLength > 0 && !this.#started) {
          this.#started = true;
          this.#owner.bodyStarted();
        }
        if (this.#stripper !== undefined) value = this.#stripper.push(value);
      } while (value.byteLength === 0); // a read can come back empty, a stripped chunk too
    } catch (error) {
      const failure = this.#end(false, error instanceof Error ? error.message : String(error));
      if (failure === undefined) return controller.error(error);
      controller.enqueue(encoder.encode(`${this.#atEventEnd ? "" : "\n\n"}${errorEvent(failure)}`));
      controller.close();
      return;
    }
    if (this.#stripper === undefined && this.#usage !== undefined) this.#keepTail(value);
    this.#atEventEnd = value.byteLength >= 2 && value[value.byteLength - 1] === LF &&
      value[value.byteLength - 2] === LF;
    controller.enqueue(value);
  }

  #close(controller: ReadableStreamDefaultController<Uint8Array>): void {
    const rest = this.#stripper?.end();
    if (rest !== undefined && rest.byteLength > 0) controller.enqueue(rest);
    this.#end(false);
    controller.close();
  }

  /**
   * Keeps the body's last bytes. A chunk that is a view of a larger buffer (fetch's reads) is copied, so the tail
   * does not keep the whole buffer alive; the pooled client's chunks are buffers of their own and are kept as they are.
   */
  #keepTail(value: Uint8Array): void {
    this.#tail.push(value.byteLength === value.buffer.byteLength ? value : value.slice());
    this.#tailBytes += value.byteLength;
    while (this.#tail.length > 1 && this.#tailBytes - this.#tail[0].byteLength >= TAIL_BYTES) {
      this.#tailBytes -= this.#tail.shift()!.byteLength;
    }
  }

  #cancel(): void {
    this.#end(true, "client closed the stream");
    this.#source.cancel();
  }

  #end(aborted: boolean, error?: string): HttpError | undefined {
    if (this.#finished) return undefined;
    this.#finished = true;
    let usage: Usage = {};
    if (!aborted) {
      if (this.#stripper !== undefined) usage = this.#stripper.usage;
      else if (this.#tail.length > 0) usage = usageFrom(decodeTail(this.#tail, this.#tailBytes), this.#usage!);
    }
    this.#tail = [];
    return this.#owner.bodyEnded({ aborted, error, usage });
  }
}

/**
 * Token counts from the last `usage` object in a body's tail, and the `model` before it in the same answer or chunk
 * (cheap: two searches and three regexes, at the end only).
 */
export function usageFrom(text: string, format: UsageFormat): Usage {
  const at = text.lastIndexOf('"usage"');
  if (at < 0) return {};
  const usage = text.slice(at);
  const input = format.input.exec(usage);
  const output = format.output?.exec(usage);
  return {
    promptTokens: input ? Number(input[1]) : undefined,
    completionTokens: output ? Number(output[1]) : undefined,
    model: modelFrom(text, at),
  };
}

const MODEL = /^"model"\s*:\s*"([^"\\]{1,256})"/;

/** The value of the last `"model": "..."` member that starts before `before` in `text`. */
export function modelFrom(text: string, before = text.length): string | undefined {
  const at = text.lastIndexOf('"model"', before);
  return at < 0 ? undefined : MODEL.exec(text.slice(at, at + 300))?.[1];
}

function decodeTail(chunks: Uint8Array[], size: number): string {
  if (chunks.length === 1) return decoder.decode(chunks[0]);
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return decoder.decode(joined);
}
