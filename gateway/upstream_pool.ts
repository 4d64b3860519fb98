/**
 * A pooled HTTP/1.1 upstream client over Deno.connect: per-origin keep-alive connections, chunked and
 * Content-Length bodies streamed through, retry-safe reuse, aborts. https URLs go to fetch (in-cluster
 * upstreams are plain http; TLS is left to Deno's client).
 *
 * Retry: a request on a reused connection whose write fails, or that sees EOF or an error before any byte of
 * the answer, is sent once more on a new connection (the server closed the idle connection). Any byte of an
 * answer, or a new connection failing, rejects. The request is written whole before the answer is read (LLM
 * servers read the whole body before answering).
 */
import { joinBytes } from "./bytes.ts";
import { fetchClient, type HeaderPairs, type UpstreamAnswer, type UpstreamClient } from "./upstream_client.ts";

/** Options of the pooled client. */
export interface PoolClientOptions {
  /** Idle connections kept per origin; more are closed when returned. */
  maxIdlePerOrigin?: number;
  /** An idle connection older than this is closed, not reused (default 4 s: vLLM's uvicorn drops idle ones after 5 s). */
  idleTimeoutMs?: number;
  /**
   * Connections open (idle, in use or connecting) per origin at most; a request beyond it waits in FIFO order until
   * one is returned or closed, or until its signal aborts (default 256).
   */
  maxConnectionsPerOrigin?: number;
  /** Called when a request starts and stops waiting for a connection to `origin` (`host:port`). */
  onWait?: (origin: string, waiting: boolean) => void;
}

/** The upstream answered something that is not HTTP/1.x, or broke the framing of its answer. */
export class UpstreamProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UpstreamProtocolError";
  }
}

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const READ_BUFFER = 16 * 1024;
const MAX_HEAD = 64 * 1024;
/** Content-Length bodies up to this size are read into one buffer (chunks are views of it, no copy). */
const WHOLE_BODY_LIMIT = 4 * 1024 * 1024;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const UNSAFE_VALUE = /[\r\n\0]/;
/** Headers the client sets itself; a caller's value for them is dropped. */
const OWN_HEADERS = new Set(["host", "content-length", "connection", "transfer-encoding", "keep-alive"]);
const CR = 13;
const LF = 10;

/** Where a URL's requests go, computed once per URL string. */
interface Target {
  key: string;
  hostname: string;
  port: number;
  /** `POST <path> HTTP/1.1\r\nHost: <host>\r\n`. */
  head: string;
}

/** One keep-alive TCP connection with its read buffer. */
class Connection {
  readonly conn: Deno.TcpConn;
  buf = new Uint8Array(READ_BUFFER);
  start = 0;
  end = 0;
  /** It has carried a complete exchange before (so the server may have closed it while idle). */
  reused = false;
  idleSince = 0;
  closed = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Reads more bytes after `end`; returns how many (0 at EOF). */
  async fill(): Promise<number> {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.end === this.buf.byteLength) {
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else {
        if (this.buf.byteLength >= MAX_HEAD) throw new UpstreamProtocolError("response head too large");
        const bigger = new Uint8Array(this.buf.byteLength * 2);
        bigger.set(this.buf.subarray(0, this.end));
        this.buf = bigger;
      }
    }
    const n = await this.conn.read(this.buf.subarray(this.end));
    if (n === null) return 0;
    this.end += n;
    return n;
  }

  async writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.byteLength) offset += await this.conn.write(bytes.subarray(offset));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/** A request waiting for a connection to an origin at its cap: it gets a free connection, or the right to open one. */
interface Waiter {
  grant(connection: Connection | undefined): void;
}

/** One origin's connections: the idle ones, how many are open (or connecting), and who waits for one. */
class Origin {
  readonly idle: Connection[] = [];
  readonly waiters: Waiter[] = [];
  open = 0;
  constructor(readonly key: string) {}
}

/** A failure before any byte of the answer on a reused connection: the request can safely go again. */
class StaleConnection extends Error {}

/** How a response body is framed. */
type Framing = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" } | { kind: "close" };

/** A parsed response head. */
interface Head {
  status: number;
  headers: HeaderPairs;
  framing: Framing;
  keepAlive: boolean;
}

/** An HTTP/1.1 client with per-origin keep-alive pools and a cap on connections per origin; implements UpstreamClient. */
export class PoolClient implements UpstreamClient {
  readonly #origins = new Map<string, Origin>();
  readonly #all = new Set<Connection>();
  readonly #targets = new Map<string, Target | null>();
  readonly #maxIdle: number;
  readonly #idleTimeoutMs: number;
  readonly #maxOpen: number;
  readonly #onWait: ((origin: string, waiting: boolean) => void) | undefined;
  readonly #releaser: Release = (origin, connection, reusable) => this.#release(origin, connection, reusable);
  #closed = false;

  constructor(options: PoolClientOptions = {}) {
    this.#maxIdle = options.maxIdlePerOrigin ?? 64;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 4_000;
    this.#maxOpen = options.maxConnectionsPerOrigin ?? 256;
    this.#onWait = options.onWait;
  }

  /** Connections open now (idle and in use). */
  get openConnections(): number {
    return this.#all.size;
  }

  /**
   * Sends a POST; resolves with the answer once its head arrived (its body read whole or as it comes). https URLs go
   * to fetch and resolve with its Response.
   */
  post(
    url: string,
    init: { headers: Array<[string, string]>; body: Uint8Array<ArrayBuffer>; signal: AbortSignal },
  ): Promise<UpstreamAnswer | Response> {
    const target = this.#target(url);
    if (target === null) return fetchClient.post(url, init);
    if (init.signal.aborted) return Promise.reject(init.signal.reason);
    if (this.#closed) return Promise.reject(new Error("upstream client is closed"));
    return this.#send(target, { request: serialize(target, init), signal: init.signal });
  }

  /** Closes every connection, idle or in use; later requests are refused, and so are those waiting. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#all) connection.close();
    this.#all.clear();
    for (const origin of this.#origins.values()) {
      origin.idle.length = 0;
      for (const waiter of origin.waiters.splice(0)) waiter.grant(undefined);
    }
  }

  #target(url: string): Target | null {
    let target = this.#targets.get(url);
    if (target !== undefined) return target;
    const parsed = new URL(url);
    if (parsed.protocol !== "http:") {
      target = null;
    } else {
      const port = parsed.port === "" ? 80 : Number(parsed.port);
      const hostname = parsed.hostname.startsWith("[") ? parsed.hostname.slice(1, -1) : parsed.hostname;
      target = {
        key: `${hostname}:${port}`,
        hostname,
        port,
        head: `POST ${parsed.pathname}${parsed.search} HTTP/1.1\r\nHost: ${parsed.host}\r\n`,
      };
    }
    if (this.#targets.size >= 1024) this.#targets.clear(); // URLs come from config; this only bounds misuse
    this.#targets.set(url, target);
    return target;
  }

  #origin(key: string): Origin {
    let origin = this.#origins.get(key);
    if (origin === undefined) this.#origins.set(key, origin = new Origin(key));
    return origin;
  }

  async #send(target: Target, ctx: { request: Uint8Array; signal: AbortSignal }): Promise<UpstreamAnswer> {
    const { request, signal } = ctx;
    const origin = this.#origin(target.key);
    let connection: Connection | undefined;
    let holdsSlot = false;
    const onAbort = () => connection?.close();
    signal.addEventListener("abort", onAbort);
    try {
      connection = this.#takeIdle(origin);
      if (connection === undefined) {
        if (origin.open < this.#maxOpen) origin.open++; // a slot for a new connection, at once
        else connection = await this.#waitForSlot(origin, signal);
      }
      holdsSlot = true;
      if (signal.aborted) throw signal.reason; // it aborted while the slot was being handed over
      let head: Head;
      try {
        if (connection === undefined) connection = await this.#connect(target, signal);
        head = await exchange(connection, request);
      } catch (error) {
        if (!(error instanceof StaleConnection) || signal.aborted) throw error;
        this.#forget(connection!); // the slot stays this request's for the new connection
        connection = undefined;
        connection = await this.#connect(target, signal);
        head = await exchange(connection, request);
      }
      return this.#response(origin, { connection, head, signal, onAbort });
    } catch (error) {
      signal.removeEventListener("abort", onAbort);
      if (connection) this.#forget(connection);
      if (holdsSlot) this.#freeSlot(origin);
      if (signal.aborted) throw signal.reason;
      throw error instanceof StaleConnection ? error.cause : error;
    }
  }

  /**
   * Waits in line for a slot of an origin at its cap. Resolves with a connection handed over by a request that
   * finished, or undefined for the right to open a new one; rejects when the signal aborts or the client closes.
   */
  #waitForSlot(origin: Origin, signal: AbortSignal): Promise<Connection | undefined> {
    this.#onWait?.(origin.key, true);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: (connection) => {
          signal.removeEventListener("abort", onAbort);
          this.#onWait?.(origin.key, false);
          if (this.#closed) reject(new Error("upstream client is closed"));
          else resolve(connection);
        },
      };
      const onAbort = () => {
        const at = origin.waiters.indexOf(waiter);
        if (at >= 0) origin.waiters.splice(at, 1);
        this.#onWait?.(origin.key, false);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      origin.waiters.push(waiter);
    });
  }

  /** Gives a slot back: to the first waiter (to open a connection), or to the origin's count. */
  #freeSlot(origin: Origin): void {
    const waiter = origin.waiters.shift();
    if (waiter !== undefined) waiter.grant(undefined);
    else origin.open--;
  }

  async #connect(target: Target, signal: AbortSignal): Promise<Connection> {
    const conn = await Deno.connect({ hostname: target.hostname, port: target.port });
    const connection = new Connection(conn);
    if (signal.aborted || this.#closed) {
      connection.close();
      throw signal.aborted ? signal.reason : new Error("upstream client is closed");
    }
    conn.setNoDelay(true);
    this.#all.add(connection);
    return connection;
  }

  #takeIdle(origin: Origin): Connection | undefined {
    const idle = origin.idle;
    const now = performance.now();
    for (let connection = idle.pop(); connection !== undefined; connection = idle.pop()) {
      if (now - connection.idleSince < this.#idleTimeoutMs) return connection;
      this.#forget(connection);
      origin.open--;
    }
    return undefined;
  }

  /** Closes a connection and drops it from the set of open ones (its slot is the caller's to free). */
  #forget(connection: Connection): void {
    connection.close();
    this.#all.delete(connection);
  }

  /** A request is done with its connection: hand it to the first waiter, keep it idle, or close it and free the slot. */
  #release(origin: Origin, connection: Connection, reusable: boolean): void {
    if (!reusable || this.#closed || connection.closed || connection.start !== connection.end) {
      this.#forget(connection);
      return this.#freeSlot(origin);
    }
    connection.reused = true;
    connection.start = connection.end = 0;
    connection.idleSince = performance.now();
    const waiter = origin.waiters.shift();
    if (waiter !== undefined) return waiter.grant(connection);
    if (origin.idle.length >= this.#maxIdle) {
      this.#forget(connection);
      origin.open--;
      return;
    }
    origin.idle.push(connection);
  }

  #response(
    origin: Origin,
    ctx: { connection: Connection; head: Head; signal: AbortSignal; onAbort: () => void },
  ): UpstreamAnswer {
    return new PooledAnswer(ctx.head, { ...ctx, origin, release: this.#releaser });
  }
}

/** Builds the request bytes: head and body in one buffer, so one write sends both. */
function serialize(
  target: Target,
  init: { headers: Array<[string, string]>; body: Uint8Array },
): Uint8Array {
  let head = target.head;
  for (const [name, value] of init.headers) {
    if (!HEADER_NAME.test(name) || UNSAFE_VALUE.test(value)) throw new TypeError(`invalid header ${name}`);
    if (OWN_HEADERS.has(name.toLowerCase())) continue;
    head += `${name}: ${value}\r\n`;
  }
  head += `Content-Length: ${init.body.byteLength}\r\n\r\n`;
  const bytes = new Uint8Array(head.length * 3 + init.body.byteLength);
  const { written } = encoder.encodeInto(head, bytes);
  bytes.set(init.body, written);
  return bytes.subarray(0, written + init.body.byteLength);
}

/** Writes the request and reads the response head; a reused connection failing before any answer byte is stale. */
async function exchange(connection: Connection, request: Uint8Array): Promise<Head> {
  try {
    await connection.writeAll(request);
  } catch (error) {
    if (connection.reused) throw new StaleConnection("stale connection", { cause: error });
    throw error;
  }
  for (let first = true;; first = false) {
    const head = await readHead(connection, { mayBeStale: first && connection.reused });
    if (head !== undefined) return head; // undefined: a 1xx interim answer was skipped
  }
}

/** Reads and parses one response head; undefined for an interim 1xx answer. */
async function readHead(connection: Connection, options: { mayBeStale: boolean }): Promise<Head | undefined> {
  let searchFrom = connection.start;
  let end = -1;
  while (end < 0) {
    end = indexOfBlankLine(connection.buf, { from: searchFrom, to: connection.end });
    if (end >= 0) break;
    searchFrom = Math.max(connection.start, connection.end - 3);
    const before = connection.start;
    let n: number;
    const nothingYet = connection.end === connection.start;
    try {
      n = await connection.fill();
    } catch (error) {
      if (nothingYet && options.mayBeStale && !connection.closed) {
        throw new StaleConnection("stale connection", { cause: error });
      }
      throw error;
    }
    searchFrom += connection.start - before;
    if (n === 0) {
      const error = new UpstreamProtocolError("upstream closed the connection before answering");
      if (nothingYet && options.mayBeStale) throw new StaleConnection(error.message, { cause: error });
      throw error;
    }
  }
  const text = latin1.decode(connection.buf.subarray(connection.start, end));
  connection.start = end + 4;
  return parseHead(text);
}

/** Index of `\r\n\r\n` in buf[from, to), or -1. */
function indexOfBlankLine(buf: Uint8Array, range: { from: number; to: number }): number {
  for (let i = range.from; i + 3 < range.to; i++) {
    if (buf[i] === CR && buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) return i;
  }
  return -1;
}

/** Parses a response head (status line and headers, folded lines joined) into status, headers and framing. */
export function parseHead(text: string): Head | undefined {
  const lines = text.split("\r\n");
  const match = STATUS_LINE.exec(lines[0]);
  if (match === null) throw new UpstreamProtocolError(`malformed status line ${JSON.stringify(lines[0].slice(0, 80))}`);
  const status = Number(match[2]);
  if (status < 200) {
    if (status === 101) throw new UpstreamProtocolError("unexpected protocol switch");
    return undefined;
  }
  const headers: HeaderPairs = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const first = line.charCodeAt(0);
    if ((first === 32 || first === 9) && headers.length > 0) {
      const last = headers[headers.length - 1];
      last[1] = `${last[1]} ${line.trim()}`; // obsolete line folding: a continuation of the previous value
      continue;
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!HEADER_NAME.test(name)) throw new UpstreamProtocolError(`malformed header line ${JSON.stringify(line)}`);
    headers.push([name.toLowerCase(), line.slice(colon + 1).trim()]);
  }
  const keepAlive = match[1] === "1" && !tokens(joined(headers, "connection")).includes("close");
  return { status, headers, framing: framing(status, headers), keepAlive };
}

/** Every value of a header, joined with ", " as one field (RFC 9110 5.3), or null when it is absent. */
function joined(headers: HeaderPairs, name: string): string | null {
  let value: string | null = null;
  for (const [n, v] of headers) if (n === name) value = value === null ? v : `${value}, ${v}`;
  return value;
}

function tokens(value: string | null): string[] {
  return value === null ? [] : value.toLowerCase().split(",").map((t) => t.trim());
}

function framing(status: number, headers: HeaderPairs): Framing {
  if (status === 204 || status === 304) return { kind: "none" };
  const coding = tokens(joined(headers, "transfer-encoding"));
  if (coding.length > 0) {
    if (coding[coding.length - 1] !== "chunked") return { kind: "close" };
    if (coding.length > 1) throw new UpstreamProtocolError(`unsupported transfer-encoding ${coding.join(", ")}`);
    for (let i = headers.length - 1; i >= 0; i--) if (headers[i][0] === "content-length") headers.splice(i, 1);
    return { kind: "chunked" };
  }
  const declared = joined(headers, "content-length");
  if (declared === null) return { kind: "close" };
  const values = new Set(declared.split(",").map((v) => v.trim()));
  const length = values.size === 1 ? Number([...values][0]) : NaN;
  if (!/^\d+$/.test([...values][0]) || !Number.isSafeInteger(length)) {
    throw new UpstreamProtocolError(`bad content-length ${JSON.stringify(declared)}`);
  }
  return { kind: "length", length };
}

/** Hands a connection back when its answer is over (reusable: read to the end, and keep-alive). */
type Release = (origin: Origin, connection: Connection, reusable: boolean) => void;

/**
 * An answer read off a pooled connection by its framing: a Content-Length body read whole into one buffer of its size
 * (`bytes`), or any body chunk by chunk (`read`), each chunk copied once out of the connection's read buffer. When the
 * body is over (or abandoned) the connection goes back to the pool, or is closed.
 */
class PooledAnswer implements UpstreamAnswer {
  readonly status: number;
  readonly headers: HeaderPairs;
  readonly hasBody: boolean;
  readonly #connection: Connection;
  readonly #framing: Framing;
  readonly #signal: AbortSignal;
  readonly #onAbort: () => void;
  readonly #origin: Origin;
  readonly #release: Release;
  readonly #keepAlive: boolean;
  readonly #chunked: ChunkedDecoder | undefined;
  /** Content-Length bodies: bytes still to come. */
  #remaining = 0;
  #done = false;

  constructor(
    head: Head,
    ctx: { connection: Connection; signal: AbortSignal; onAbort: () => void; origin: Origin; release: Release },
  ) {
    this.status = head.status;
    this.headers = head.headers;
    this.#framing = head.framing;
    this.#keepAlive = head.keepAlive;
    this.#connection = ctx.connection;
    this.#signal = ctx.signal;
    this.#onAbort = ctx.onAbort;
    this.#origin = ctx.origin;
    this.#release = ctx.release;
    const kind = head.framing.kind;
    if (kind === "length") this.#remaining = (head.framing as { length: number }).length;
    this.#chunked = kind === "chunked" ? new ChunkedDecoder() : undefined;
    this.hasBody = kind !== "none" && !(kind === "length" && this.#remaining === 0);
    if (!this.hasBody) this.#end(true);
  }

  async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    if (!this.hasBody) return new Uint8Array(0);
    if (this.#framing.kind !== "length" || this.#remaining > WHOLE_BODY_LIMIT || this.#done) {
      return await this.#readAll();
    }
    const c = this.#connection;
    const whole = new Uint8Array(this.#remaining);
    // Bytes that came with the head are copied in once; the rest is read in place.
    let at = Math.min(c.end - c.start, whole.byteLength);
    whole.set(c.buf.subarray(c.start, c.start + at));
    c.start += at;
    try {
      while (at < whole.byteLength) {
        const n = await c.conn.read(whole.subarray(at));
        if (n === null) throw new UpstreamProtocolError("upstream closed the body early");
        at += n;
      }
    } catch (error) {
      this.#end(false);
      throw this.#signal.aborted ? this.#signal.reason : error;
    }
    this.#remaining = 0;
    this.#end(true);
    return whole;
  }

  async read(): Promise<Uint8Array<ArrayBuffer> | null> {
    try {
      for (;;) {
        if (this.#done) return null;
        const chunk = this.#take();
        const finished = this.#finished();
        if (finished) this.#end(true);
        if (chunk !== undefined) return chunk;
        if (finished) return null;
        if (await this.#connection.fill() === 0) {
          if (this.#framing.kind !== "close") throw new UpstreamProtocolError("upstream closed the body early");
          this.#end(false);
          return null;
        }
      }
    } catch (error) {
      this.#end(false);
      throw this.#signal.aborted ? this.#signal.reason : error;
    }
  }

  cancel(): void {
    this.#end(false);
  }

  async #readAll(): Promise<Uint8Array<ArrayBuffer>> {
    const parts: Uint8Array<ArrayBuffer>[] = [];
    let size = 0;
    for (let chunk = await this.read(); chunk !== null; chunk = await this.read()) {
      parts.push(chunk);
      size += chunk.byteLength;
    }
    return parts.length === 1 ? parts[0] : joinBytes(parts, size);
  }

  #end(reusable: boolean): void {
    if (this.#done) return;
    this.#done = true;
    this.#signal.removeEventListener("abort", this.#onAbort);
    this.#release(this.#origin, this.#connection, reusable && this.#keepAlive);
  }

  #finished(): boolean {
    switch (this.#framing.kind) {
      case "length":
        return this.#remaining === 0;
      case "chunked":
        return this.#chunked!.done;
      default:
        return false;
    }
  }

  /** The body bytes in the connection's buffer now, copied out (consumed); undefined when there are none. */
  #take(): Uint8Array<ArrayBuffer> | undefined {
    const c = this.#connection;
    if (c.start === c.end) return undefined;
    switch (this.#framing.kind) {
      case "length": {
        const n = Math.min(c.end - c.start, this.#remaining);
        if (n === 0) return undefined;
        this.#remaining -= n;
        const chunk = c.buf.slice(c.start, c.start + n);
        c.start += n;
        return chunk;
      }
      case "chunked": {
        const parts: Uint8Array[] = [];
        c.start += this.#chunked!.feed(c.buf.subarray(c.start, c.end), parts);
        return concat(parts);
      }
      default: {
        const chunk = c.buf.slice(c.start, c.end);
        c.start = c.end;
        return chunk;
      }
    }
  }
}

/** One copy of the data parts (none when there is a single part that can be copied alone). */
function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> | undefined {
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0].slice();
  return joinBytes(parts);
}

const State = {
  Size: 0,
  Extension: 1,
  SizeLf: 2,
  Data: 3,
  DataCr: 4,
  DataLf: 5,
  TrailerStart: 6,
  TrailerLine: 7,
  TrailerLf: 8,
  Done: 9,
} as const;

/** Incremental `Transfer-Encoding: chunked` decoder: feed it any split of the bytes, it yields the data. */
export class ChunkedDecoder {
  #state: number = State.Size;
  #size = 0;
  #digits = 0;

  /** The terminating chunk and trailers were read. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /** Decodes from `input`, pushing data views of it onto `out`; returns the bytes consumed (stops when done). */
  feed(input: Uint8Array, out: Uint8Array[]): number {
    let i = 0;
    const n = input.byteLength;
    while (i < n && this.#state !== State.Done) {
      const byte = input[i];
      switch (this.#state) {
        case State.Size: {
          const digit = hexValue(byte);
          if (digit >= 0) {
            if (++this.#digits > 12) throw new UpstreamProtocolError("chunk size too large");
            this.#size = this.#size * 16 + digit;
          } else if (this.#digits > 0 && (byte === 59 || byte === 32 || byte === 9)) {
            this.#state = State.Extension; // `;name=value` or whitespace: ignored
          } else if (this.#digits > 0 && byte === CR) {
            this.#state = State.SizeLf;
          } else if (this.#digits > 0 && byte === LF) {
            this.#afterSize();
          } else {
            throw new UpstreamProtocolError("malformed chunk size");
          }
          i++;
          break;
        }
        case State.Extension:
          if (byte === LF) this.#afterSize();
          i++;
          break;
        case State.SizeLf:
          if (byte !== LF) throw new UpstreamProtocolError("malformed chunk size line");
          this.#afterSize();
          i++;
          break;
        case State.Data: {
          const take = Math.min(this.#size, n - i);
          out.push(input.subarray(i, i + take));
          i += take;
          this.#size -= take;
          if (this.#size === 0) this.#state = State.DataCr;
          break;
        }
        case State.DataCr:
          if (byte === CR) this.#state = State.DataLf;
          else if (byte === LF) this.#state = State.Size;
          else throw new UpstreamProtocolError("chunk data longer than its size");
          i++;
          break;
        case State.DataLf:
          if (byte !== LF) throw new UpstreamProtocolError("chunk data longer than its size");
          this.#state = State.Size;
          i++;
          break;
        case State.TrailerStart:
          if (byte === CR) this.#state = State.TrailerLf;
          else if (byte === LF) this.#state = State.Done;
          else this.#state = State.TrailerLine;
          i++;
          break;
        case State.TrailerLine:
          if (byte === LF) this.#state = State.TrailerStart;
          i++;
          break;
        case State.TrailerLf:
          if (byte !== LF) throw new UpstreamProtocolError("malformed chunked trailer");
          this.#state = State.Done;
          i++;
          break;
      }
    }
    return i;
  }

  #afterSize(): void {
    this.#state = this.#size === 0 ? State.TrailerStart : State.Data;
    this.#digits = 0;
  }
}

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 97 && byte <= 102) return byte - 87;
  if (byte >= 65 && byte <= 70) return byte - 55;
  return -1;
}
