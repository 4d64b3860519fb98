/**
 * Response headers as name/value pairs, handed to `new Response` as they are: building a `Headers` object first (and
 * iterating one, which sorts it) cost more per request than the rest of the response.
 */
import { type HeaderPairs, headerValue } from "./upstream_client.ts";

/** Upstream headers the client never gets: hop-by-hop ones, and the framing the server sets itself. */
const DROP_RESPONSE_HEADERS = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "content-encoding",
  "proxy-connection",
  "upgrade",
  "trailer",
]);

/** The gateway's own headers for one response (request id, rate limit, upstream name, ...); names lower-case. */
export class ResponseHeaders {
  /** The pairs, in the order first set. */
  readonly pairs: HeaderPairs;

  constructor(pairs: HeaderPairs = []) {
    this.pairs = pairs;
  }

  /** Sets a header, replacing its value when it is already set (`name` lower-case). */
  set(name: string, value: string): void {
    const pairs = this.pairs;
    for (let i = 0; i < pairs.length; i++) {
      if (pairs[i][0] === name) {
        pairs[i][1] = value;
        return;
      }
    }
    pairs.push([name, value]);
  }

  /** The value of a header, or undefined. */
  get(name: string): string | undefined {
    return headerValue(this.pairs, name);
  }

  /**
   * The headers of a response passed on from an upstream: the upstream's own (every value, set-cookie included),
   * less hop-by-hop ones and those the gateway sets itself, then the gateway's.
   */
  over(upstream: HeaderPairs): HeaderPairs {
    const out: HeaderPairs = [];
    for (let i = 0; i < upstream.length; i++) {
      const name = upstream[i][0];
      if (!DROP_RESPONSE_HEADERS.has(name) && this.get(name) === undefined) out.push(upstream[i]);
    }
    const own = this.pairs;
    for (let i = 0; i < own.length; i++) out.push(own[i]);
    return out;
  }
}
