/** What sends a request to an upstream: the interface the proxy calls and the clients implement, and the fetch one. */

/** Sends requests to upstreams; swappable (the pooled client by default, fetch, or a fake in tests). */
export interface UpstreamClient {
  /** Sends a POST with the given body; rejects on connect failure or abort. */
  post(
    url: string,
    init: { headers: Array<[string, string]>; body: Uint8Array<ArrayBuffer>; signal: AbortSignal },
  ): Promise<Response>;
  /** Closes its connections (on shutdown). */
  close?(): void;
}

/** Deno's fetch with its connection pool. */
export const fetchClient: UpstreamClient = {
  post: (url, init) => fetch(url, { method: "POST", headers: init.headers, body: init.body, signal: init.signal }),
};
