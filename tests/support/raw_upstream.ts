/**
 * A raw TCP upstream for tests that need byte-level control of an HTTP/1.1 answer: write a status line, headers or
 * half a body, then stall. It counts the connections it sees, in total and open at once.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads HTTP/1.1 requests off one raw server connection, byte by byte under the test's control. */
export class RequestReader {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  /** The next request's head and body, or null when the client closed the connection. */
  async next(): Promise<{ head: string; body: string } | null> {
    let end = -1;
    while ((end = indexOf(this.#buf, "\r\n\r\n")) < 0) if (!await this.#more()) return null;
    const head = decoder.decode(this.#buf.subarray(0, end));
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    while (this.#buf.byteLength < end + 4 + length) if (!await this.#more()) return null;
    const text = decoder.decode(this.#buf.subarray(end + 4, end + 4 + length));
    this.#buf = this.#buf.slice(end + 4 + length);
    return { head, body: text };
  }

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(4096);
    const n = await this.conn.read(chunk).catch(() => null);
    if (n === null) return false;
    const joined = new Uint8Array(this.#buf.byteLength + n);
    joined.set(this.#buf);
    joined.set(chunk.subarray(0, n), this.#buf.byteLength);
    this.#buf = joined;
    return true;
  }
}

function indexOf(bytes: Uint8Array, text: string): number {
  return decoder.decode(bytes).indexOf(text);
}

/** Writes all of `data` to a connection. */
export async function write(conn: Deno.Conn, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let offset = 0;
  while (offset < bytes.byteLength) offset += await conn.write(bytes.subarray(offset));
}

/** A raw TCP server; `handle` runs per connection with its index. Counts connections and requests. */
export function rawServer(handle: (reader: RequestReader, index: number) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks: Promise<void>[] = [];
  /** connections: accepted so far; open: open now; mostOpen: the most open at once. */
  const state = { connections: 0, open: 0, mostOpen: 0 };
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const index = state.connections++;
      state.mostOpen = Math.max(state.mostOpen, ++state.open);
      tasks.push(
        handle(new RequestReader(conn), index).catch(() => {}).finally(() => {
          conns.delete(conn);
          state.open--;
          try {
            conn.close();
          } catch { /* closed by the handler */ }
        }),
      );
    }
  })().catch(() => {});
  return {
    /** `http://127.0.0.1:<port>`, for GATEWAY_UPSTREAMS. */
    origin: `http://127.0.0.1:${listener.addr.port}`,
    /** The chat completions URL on it. */
    url: `http://127.0.0.1:${listener.addr.port}/v1/chat/completions`,
    state,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await Promise.allSettled(tasks);
    },
  };
}

/** Answers every request on a connection with `answer(request number)` until the client closes. */
export function answering(answer: (n: number) => string) {
  let requests = 0;
  const server = rawServer(async (reader) => {
    while (await reader.next() !== null) await write(reader.conn, answer(requests++));
  });
  return Object.assign(server, { requests: () => requests });
}
