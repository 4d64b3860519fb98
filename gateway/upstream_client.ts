/**
 * What sends a request to an upstream: the interface the proxy calls and the clients implement, the answer they give
 * (UpstreamAnswer: status, header pairs, a body read whole or chunk by chunk), and the fetch client.
 */

/** Response headers as name/value pairs, names lower-case, in the order received. */
export type HeaderPairs = Array<[string, string]>;

/**
 * An upstream's answer once its head arrived. No `Headers` object and no `ReadableStream`: the proxy reads a whole
 * answer into one buffer (`bytes`) or passes a stream on chunk by chunk (`read`). Read it once, one way.
 */
export interface UpstreamAnswer {
  readonly status: number;
  /** Its headers, hop-by-hop ones included. */
  readonly headers: HeaderPairs;
  /** False when the answer has no body at all (204, 304, `Content-Length: 0`). */
  readonly hasBody: boolean;
  /** The whole body; rejects when it breaks off or the request's signal aborts (with the abort's reason). */
  bytes(): Promise<Uint8Array<ArrayBuffer>>;
  /** The next chunk of the body (a buffer of its own, never reused), or null at its end; rejects like bytes(). */
  read(): Promise<Uint8Array<ArrayBuffer> | null>;
  /** Stops reading: the connection is let go (never reused with a body half read). */
  cancel(): void;
}

/** Sends requests to upstreams; swappable (the pooled client by default, fetch, or a fake in tests). */
export interface UpstreamClient {
  /**
   * Sends a POST with the given body; rejects on connect failure or abort. Resolves with an UpstreamAnswer (the
   * pooled client) or a fetch Response (fetch, fakes in tests), which the proxy reads through answerOf.
   */
  post(
    url: string,
    init: { headers: Array<[string, string]>; body: Uint8Array<ArrayBuffer>; signal: AbortSignal },
  ): Promise<UpstreamAnswer | Response>;
  /** Closes its connections (on shutdown). */
  close?(): void;
}

/** Deno's fetch with its connection pool. */
export const fetchClient: UpstreamClient = {
  post: (url, init) => fetch(url, { method: "POST", headers: init.headers, body: init.body, signal: init.signal }),
};

/** The value of a header (its first, by lower-case name), or undefined. */
export function headerValue(headers: HeaderPairs, name: string): string | undefined {
  for (let i = 0; i < headers.length; i++) if (headers[i][0] === name) return headers[i][1];
  return undefined;
}

/**
 * Size of each read of a fetch Response's body. fetch's own reads allocate 64 KiB per chunk; SSE chunks are a few
 * hundred bytes, so with 1,000 streams those buffers alone came to over 1 GB of RSS before the GC caught up.
 */
const FETCH_READ_BYTES = 4096;

/** A fetch Response as an UpstreamAnswer (its body read with a BYOB reader into small buffers). */
class ResponseAnswer implements UpstreamAnswer {
  readonly status: number;
  readonly headers: HeaderPairs;
  readonly hasBody: boolean;
  readonly #response: Response;
  #reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(response: Response) {
    this.#response = response;
    this.status = response.status;
    this.headers = [...response.headers];
    this.hasBody = response.body !== null;
  }

  bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.#response.bytes();
  }

  async read(): Promise<Uint8Array<ArrayBuffer> | null> {
    const reader = this.#reader ??= byobReader(this.#response.body!);
    const { done, value } = reader instanceof ReadableStreamBYOBReader
      ? await reader.read(new Uint8Array(FETCH_READ_BYTES))
      : await reader.read();
    return done ? null : value as Uint8Array<ArrayBuffer>;
  }

  cancel(): void {
    (this.#reader ?? this.#response.body)?.cancel().catch(() => {});
  }
}

/** A BYOB reader when the body is a byte stream (fetch bodies are), so the gateway picks the read buffer size. */
function byobReader(source: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | ReadableStreamDefaultReader {
  try {
    return source.getReader({ mode: "byob" });
  } catch {
    return source.getReader();
  }
}

/** What a client answered, as an UpstreamAnswer. */
export function answerOf(answer: UpstreamAnswer | Response): UpstreamAnswer {
  return answer instanceof Response ? new ResponseAnswer(answer) : answer;
}
