/**
 * One tiny proxy per upstream HTTP client, to measure the clients the gateway could use (issue 5): Deno's fetch,
 * fetch with a tuned Deno.createHttpClient, node:http with a keep-alive agent, and a pooled HTTP/1.1 client over
 * Deno.connect (answers with Content-Length only; enough to measure, not a product). Each reads the body, checks
 * `model`, forwards, and returns the whole answer. CLIENT=fetch|fetch-tuned|node-http|raw-pool|none PORT UPSTREAM.
 */

import http from "node:http";

const client = Deno.env.get("CLIENT") ?? "fetch";
const port = Number(Deno.env.get("PORT"));
const upstream = new URL(Deno.env.get("UPSTREAM") ?? "");
const target = `${upstream.origin}/v1/chat/completions`;
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const JSON_HEADERS = { "content-type": "application/json" };

const tuned = Deno.createHttpClient({ http1: true, http2: false, poolMaxIdlePerHost: 1024, poolIdleTimeout: 60_000 });
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

/** Idle keep-alive connections of the raw pool. */
const idle: Deno.TcpConn[] = [];
const HEADER_END = encoder.encode("\r\n\r\n");

function indexOfSequence(haystack: Uint8Array, needle: Uint8Array, to: number): number {
  outer: for (let i = 0; i + needle.length <= to; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

async function rawPost(body: Uint8Array): Promise<{ status: number; body: Uint8Array<ArrayBuffer> }> {
  const conn = idle.pop() ?? await Deno.connect({ hostname: upstream.hostname, port: Number(upstream.port) });
  const head = encoder.encode(
    `POST /v1/chat/completions HTTP/1.1\r\nhost: ${upstream.host}\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.byteLength}\r\n\r\n`,
  );
  const message = new Uint8Array(head.byteLength + body.byteLength);
  message.set(head);
  message.set(body, head.byteLength);
  await conn.write(message);
  let buffer = new Uint8Array(16_384);
  let filled = 0;
  for (;;) {
    if (filled === buffer.length) {
      const bigger = new Uint8Array(buffer.length * 2);
      bigger.set(buffer);
      buffer = bigger;
    }
    const read = await conn.read(buffer.subarray(filled));
    if (read === null) {
      conn.close();
      throw new Error("upstream closed the connection");
    }
    filled += read;
    const end = indexOfSequence(buffer, HEADER_END, filled);
    if (end < 0) continue;
    const head = decoder.decode(buffer.subarray(0, end));
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN);
    if (!Number.isFinite(length)) throw new Error("raw-pool handles Content-Length answers only");
    const total = end + 4 + length;
    if (filled < total) continue;
    idle.push(conn);
    return { status: Number(head.slice(9, 12)), body: buffer.slice(end + 4, total) };
  }
}

function nodePost(body: Uint8Array): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: upstream.hostname,
      port: upstream.port,
      path: "/v1/chat/completions",
      method: "POST",
      agent,
      headers: { ...JSON_HEADERS, "content-length": body.byteLength },
    }, (response) => {
      const chunks: Uint8Array<ArrayBuffer>[] = [];
      response.on("data", (chunk: Uint8Array<ArrayBuffer>) => chunks.push(chunk));
      response.on(
        "end",
        () => resolve(new Response(new Blob(chunks), { status: response.statusCode, headers: JSON_HEADERS })),
      );
    });
    request.on("error", reject);
    request.end(body);
  });
}

Deno.serve({ hostname: "127.0.0.1", port }, async (request) => {
  const body = await request.bytes();
  if (typeof JSON.parse(decoder.decode(body)).model !== "string") return new Response("model missing", { status: 400 });
  switch (client) {
    case "fetch":
    case "fetch-tuned": {
      const init: RequestInit & { client?: Deno.HttpClient } = { method: "POST", headers: JSON_HEADERS, body };
      if (client === "fetch-tuned") init.client = tuned;
      const answer = await fetch(target, init);
      return new Response(await answer.bytes(), { status: answer.status, headers: JSON_HEADERS });
    }
    case "node-http":
      return await nodePost(body);
    case "raw-pool": {
      const answer = await rawPost(body);
      return new Response(answer.body, { status: answer.status, headers: JSON_HEADERS });
    }
    default:
      return new Response('{"served":"without an upstream"}', { headers: JSON_HEADERS });
  }
});
