import assert from "node:assert/strict";
import fc from "fast-check";
import { ChunkedDecoder, PoolClient, UpstreamProtocolError } from "./upstream_pool.ts";
import { headerValue, type UpstreamAnswer } from "./upstream_client.ts";
import { answering, rawServer, write } from "../tests/support/raw_upstream.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const body = encoder.encode('{"model":"m"}');

async function post(client: PoolClient, url: string, signal = new AbortController().signal): Promise<UpstreamAnswer> {
  const headers: Array<[string, string]> = [["x-request-id", "r1"], ["content-type", "application/json"]];
  return await client.post(url, { headers, body, signal }) as UpstreamAnswer;
}

/** The whole body of an answer as text. */
async function text(answer: UpstreamAnswer | Response): Promise<string> {
  return decoder.decode(await answer.bytes());
}

/** The rest of an answer's body, read chunk by chunk, as text. */
async function rest(answer: UpstreamAnswer): Promise<string> {
  let got = "";
  for (let chunk = await answer.read(); chunk !== null; chunk = await answer.read()) got += decoder.decode(chunk);
  return got;
}

const ok = (text: string, extra = "") =>
  `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${
    encoder.encode(text).byteLength
  }\r\n${extra}\r\n${text}`;

function chunked(parts: Uint8Array[]): Uint8Array {
  const pieces: Uint8Array[] = [];
  for (const part of parts) {
    if (part.byteLength === 0) continue;
    pieces.push(encoder.encode(`${part.byteLength.toString(16)}\r\n`), part, encoder.encode("\r\n"));
  }
  pieces.push(encoder.encode("0\r\n\r\n"));
  return join(pieces);
}

function join(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.byteLength;
  }
  return out;
}

/** Splits bytes at the given (sorted, deduplicated) cut points. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(from, point));
    from = point;
  }
  pieces.push(bytes.subarray(from));
  return pieces;
}

const bodyParts = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 });

Deno.test("chunked decoding: any body, any chunking, any split of the byte stream gives the same bytes", () => {
  fc.assert(
    fc.property(bodyParts, fc.array(fc.nat(), { maxLength: 12 }), (parts, cuts) => {
      const encoded = join([chunked(parts), encoder.encode("trailing")]);
      const chunkedDecoder = new ChunkedDecoder();
      const out: Uint8Array[] = [];
      let consumed = 0;
      for (const piece of split(encoded, cuts)) consumed += chunkedDecoder.feed(piece, out);
      assert.ok(chunkedDecoder.done);
      assert.deepEqual(join(out), join(parts));
      assert.equal(consumed, encoded.byteLength - "trailing".length, "stops after the last chunk");
    }),
    { numRuns: 500 },
  );
});

Deno.test("chunked decoding accepts extensions and trailers, refuses a bad size", () => {
  const out: Uint8Array[] = [];
  const d = new ChunkedDecoder();
  d.feed(encoder.encode("5;ext=1\r\nhello\r\n0\r\nx-trailer: 1\r\n\r\n"), out);
  assert.ok(d.done);
  assert.equal(decoder.decode(join(out)), "hello");
  assert.throws(() => new ChunkedDecoder().feed(encoder.encode("zz\r\n"), []), UpstreamProtocolError);
  assert.throws(() => new ChunkedDecoder().feed(encoder.encode("2\r\nabc\r\n"), []), UpstreamProtocolError);
});

Deno.test("a chunked body split anywhere on the wire arrives whole through a real socket", async () => {
  await fc.assert(
    fc.asyncProperty(bodyParts, fc.array(fc.nat(), { maxLength: 6 }), async (parts, cuts) => {
      await using server = rawServer(async (reader) => {
        await reader.next();
        await write(reader.conn, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (const piece of split(chunked(parts), cuts)) {
          await write(reader.conn, piece);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        await reader.next();
      });
      const client = new PoolClient();
      try {
        const response = await post(client, server.url);
        assert.deepEqual(await response.bytes(), join(parts));
      } finally {
        client.close();
      }
    }),
    { numRuns: 25 },
  );
});

Deno.test("sends POST with Host, Content-Length and the given headers; reads status, headers and body", async () => {
  let seen: { method: string; host: string | null; length: string | null; id: string | null; body: string } | undefined;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    seen = {
      method: request.method,
      host: request.headers.get("host"),
      length: request.headers.get("content-length"),
      id: request.headers.get("x-request-id"),
      body: await request.text(),
    };
    return Response.json({ ok: true }, { status: 201, headers: { "x-answer": "yes" } });
  });
  const client = new PoolClient();
  try {
    const response = await post(client, `http://127.0.0.1:${server.addr.port}/v1/chat/completions`);
    assert.equal(response.status, 201);
    assert.equal(headerValue(response.headers, "x-answer"), "yes");
    assert.deepEqual(JSON.parse(await text(response)), { ok: true });
    assert.deepEqual(seen, {
      method: "POST",
      host: `127.0.0.1:${server.addr.port}`,
      length: String(body.byteLength),
      id: "r1",
      body: '{"model":"m"}',
    });
  } finally {
    client.close();
  }
});

Deno.test("keep-alive: sequential requests reuse one connection once each body was read", async () => {
  await using server = answering((n) => ok(`answer ${n}`));
  const client = new PoolClient();
  try {
    for (let i = 0; i < 5; i++) assert.equal(await text(await post(client, server.url)), `answer ${i}`);
    assert.equal(server.state.connections, 1);
    // A body not read yet keeps its connection busy: a second request needs another one.
    const first = await post(client, server.url);
    const second = await post(client, server.url);
    assert.equal(server.state.connections, 2);
    assert.equal(await text(first), "answer 5");
    assert.equal(await text(second), "answer 6");
  } finally {
    client.close();
  }
});

Deno.test("idle connections per origin are capped, the rest closed", async () => {
  await using server = answering(() => ok("x"));
  const client = new PoolClient({ maxIdlePerOrigin: 1 });
  try {
    const responses = await Promise.all([post(client, server.url), post(client, server.url)]);
    for (const response of responses) await text(response);
    assert.equal(server.state.connections, 2);
    assert.equal(client.openConnections, 1);
  } finally {
    client.close();
  }
  assert.equal(client.openConnections, 0);
});

Deno.test("Connection: close and HTTP/1.0 answers are not reused", async (t) => {
  for (
    const [name, answer] of [
      ["Connection: close", (n: number) => ok(`a${n}`, "Connection: close\r\n")],
      ["HTTP/1.0", (n: number) => ok(`a${n}`).replace("HTTP/1.1", "HTTP/1.0")],
    ] as const
  ) {
    await t.step(name, async () => {
      await using server = answering(answer);
      const client = new PoolClient();
      try {
        assert.equal(await text(await post(client, server.url)), "a0");
        assert.equal(await text(await post(client, server.url)), "a1");
        assert.equal(server.state.connections, 2);
      } finally {
        client.close();
      }
    });
  }
});

Deno.test("a body without length or chunking is read until the server closes", async () => {
  await using server = rawServer(async (reader) => {
    await reader.next();
    await write(reader.conn, "HTTP/1.1 200 OK\r\n\r\npart one, ");
    await write(reader.conn, "part two");
  });
  const client = new PoolClient();
  try {
    assert.equal(await text(await post(client, server.url)), "part one, part two");
    assert.equal(client.openConnections, 0);
  } finally {
    client.close();
  }
});

Deno.test("SSE chunks are passed on as they arrive, not after the stream ends", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  await using server = rawServer(async (reader) => {
    await reader.next();
    await write(
      reader.conn,
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    await write(reader.conn, chunked([encoder.encode("data: 1\n\n")]).subarray(0, -5)); // without the last chunk
    await released; // the rest only once the client saw the first event
    await write(reader.conn, "b\r\ndata: [2]\n\n\r\n0\r\n\r\n");
    await reader.next();
  });
  const client = new PoolClient();
  try {
    const response = await post(client, server.url);
    assert.equal(headerValue(response.headers, "content-type"), "text/event-stream");
    const first = await response.read();
    assert.equal(decoder.decode(first!), "data: 1\n\n");
    release();
    assert.equal(await rest(response), "data: [2]\n\n");
  } finally {
    client.close();
  }
});

Deno.test("multiple and folded response headers are kept", async () => {
  await using server = answering(() => ok("x", "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Folded: one\r\n  two\r\n"));
  const client = new PoolClient();
  try {
    const response = await post(client, server.url);
    await text(response);
    const cookies = response.headers.filter(([name]) => name === "set-cookie").map(([, value]) => value);
    assert.deepEqual(cookies, ["a=1", "b=2"]);
    assert.equal(headerValue(response.headers, "x-folded"), "one two");
  } finally {
    client.close();
  }
});

Deno.test("a connection the server closed while idle does not fail the next request", async () => {
  await using server = rawServer(async (reader) => {
    await reader.next();
    await write(reader.conn, ok("fresh")); // keep-alive answer, then the server drops the idle connection
  });
  const client = new PoolClient();
  try {
    assert.equal(await text(await post(client, server.url)), "fresh");
    await new Promise((resolve) => setTimeout(resolve, 50)); // the server's close reaches the client
    assert.equal(await text(await post(client, server.url)), "fresh");
    assert.equal(server.state.connections, 2);
  } finally {
    client.close();
  }
});

Deno.test("a request whose answer had started is not retried when the connection breaks", async () => {
  let requests = 0;
  await using server = rawServer(async (reader) => {
    while (await reader.next() !== null) {
      requests++;
      await write(reader.conn, requests === 1 ? ok("first") : "HTTP/1.1 200 OK\r\nContent-Le");
      if (requests > 1) return;
    }
  });
  const client = new PoolClient();
  try {
    assert.equal(await text(await post(client, server.url)), "first");
    await assert.rejects(post(client, server.url), UpstreamProtocolError);
    assert.equal(requests, 2, "the second request was sent once");
  } finally {
    client.close();
  }
});

Deno.test("a fresh connection closed before any answer rejects without a retry", async () => {
  let requests = 0;
  await using server = rawServer(async (reader) => {
    if (await reader.next() !== null) requests++;
  });
  const client = new PoolClient();
  try {
    await assert.rejects(post(client, server.url), UpstreamProtocolError);
    assert.equal(requests, 1);
  } finally {
    client.close();
  }
});

Deno.test("a refused connection rejects the request", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const client = new PoolClient();
  try {
    await assert.rejects(post(client, `http://127.0.0.1:${port}/v1/completions`), Deno.errors.ConnectionRefused);
  } finally {
    client.close();
  }
});

Deno.test("a malformed status line rejects the request", async () => {
  await using server = answering(() => "HTTP/2 banana\r\n\r\n");
  const client = new PoolClient();
  try {
    await assert.rejects(post(client, server.url), /malformed status line/);
    assert.equal(client.openConnections, 0);
  } finally {
    client.close();
  }
});

Deno.test("abort before connecting rejects with the reason and opens no connection", async () => {
  await using server = answering(() => ok("x"));
  const client = new PoolClient();
  try {
    const controller = new AbortController();
    const reason = new Error("gone");
    controller.abort(reason);
    await assert.rejects(post(client, server.url, controller.signal), (e) => e === reason);
    assert.equal(server.state.connections, 0);
  } finally {
    client.close();
  }
});

Deno.test("abort while waiting for the answer rejects and closes the upstream connection", async () => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((resolve) => closed = resolve);
  let received!: () => void;
  const requestReceived = new Promise<void>((resolve) => received = resolve);
  await using server = rawServer(async (reader) => {
    await reader.next();
    received();
    assert.equal(await reader.next(), null); // never answers; the client's abort closes the connection
    closed();
  });
  const client = new PoolClient();
  try {
    const controller = new AbortController();
    const pending = post(client, server.url, controller.signal);
    await requestReceived;
    const reason = new Error("client left");
    controller.abort(reason);
    await assert.rejects(pending, (e) => e === reason);
    await serverSawClose;
    assert.equal(client.openConnections, 0);
  } finally {
    client.close();
  }
});

Deno.test("abort mid-body rejects the next read and the connection is never reused", async () => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((resolve) => closed = resolve);
  await using server = rawServer(async (reader, index) => {
    await reader.next();
    if (index > 0) return void await write(reader.conn, ok("new"));
    await write(reader.conn, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n");
    assert.equal(await reader.next(), null);
    closed();
  });
  const client = new PoolClient();
  try {
    const controller = new AbortController();
    const response = await post(client, server.url, controller.signal);
    assert.equal(decoder.decode((await response.read())!), "data");
    const reason = new Error("client left");
    controller.abort(reason);
    await assert.rejects(response.read(), (e) => e === reason);
    await serverSawClose;
    assert.equal(await text(await post(client, server.url)), "new");
    assert.equal(server.state.connections, 2);
  } finally {
    client.close();
  }
});

Deno.test("after close() requests are refused and no connection stays open", async () => {
  await using server = answering(() => ok("x"));
  const client = new PoolClient();
  await text(await post(client, server.url));
  assert.equal(client.openConnections, 1);
  client.close();
  assert.equal(client.openConnections, 0);
  await assert.rejects(post(client, server.url), /closed/);
});

Deno.test("bodies are read whole or chunk by chunk, each chunk a buffer of its own, over one connection", async () => {
  const text = "x".repeat(40_000);
  let n = 0;
  await using server = rawServer(async (reader) => {
    while (await reader.next() !== null) {
      const chunkedAnswer = n++ % 2 === 1;
      await write(reader.conn, chunkedAnswer ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" : ok(text));
      if (chunkedAnswer) await write(reader.conn, join([chunked([encoder.encode(text)])]));
    }
  });
  const client = new PoolClient();
  try {
    for (let i = 0; i < 4; i++) {
      const answer = await post(client, server.url);
      if (i < 2) {
        assert.equal(decoder.decode(await answer.bytes()), text);
        continue;
      }
      let got = "";
      for (let chunk = await answer.read(); chunk !== null; chunk = await answer.read()) {
        assert.equal(chunk.byteLength, chunk.buffer.byteLength, "a chunk is not a view of a larger (reused) buffer");
        got += decoder.decode(chunk);
      }
      assert.equal(got, text);
    }
    assert.equal(server.state.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("a connection idle longer than idleTimeoutMs is closed instead of reused", async () => {
  await using server = answering(() => ok("x"));
  const client = new PoolClient({ idleTimeoutMs: 1 });
  try {
    await text(await post(client, server.url));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await text(await post(client, server.url));
    assert.equal(server.state.connections, 2);
    assert.equal(client.openConnections, 1);
  } finally {
    client.close();
  }
});

Deno.test("an interim 100 Continue is skipped and the final answer returned", async () => {
  await using server = answering(() => `HTTP/1.1 100 Continue\r\n\r\n${ok("after")}`);
  const client = new PoolClient();
  try {
    for (let i = 0; i < 2; i++) assert.equal(await text(await post(client, server.url)), "after");
    assert.equal(server.state.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("concurrent requests each get their own answer (streamed and not), connections shared safely", async () => {
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const id = request.headers.get("x-request-id")!;
    await request.arrayBuffer();
    if (Number(id) % 2 === 0) return new Response(`whole ${id}`);
    const parts = [`part ${id} `, "and ", `end ${id}`];
    return new Response(ReadableStream.from(parts).pipeThrough(new TextEncoderStream())); // chunked
  });
  const url = `http://127.0.0.1:${server.addr.port}/v1/chat/completions`;
  const client = new PoolClient({ maxIdlePerOrigin: 4 });
  try {
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const signal = new AbortController().signal;
          const response = await client.post(url, { headers: [["x-request-id", String(i)]], body, signal });
          return await text(response);
        }),
      );
      answers.forEach((text, i) => assert.equal(text, i % 2 === 0 ? `whole ${i}` : `part ${i} and end ${i}`));
    }
    assert.ok(client.openConnections <= 4);
  } finally {
    client.close();
  }
});

Deno.test("maxConnectionsPerOrigin: 50 concurrent requests all get their answers over at most 4 connections", async () => {
  let requests = 0;
  await using server = rawServer(async (reader) => {
    while (await reader.next() !== null) {
      const n = requests++;
      await new Promise((resolve) => setTimeout(resolve, 1)); // let the others queue up
      await write(reader.conn, ok(`answer ${n}`));
    }
  });
  const waits: string[] = [];
  const client = new PoolClient({
    maxConnectionsPerOrigin: 4,
    onWait: (origin, waiting) => waiting && waits.push(origin),
  });
  try {
    const answers = await Promise.all(
      Array.from({ length: 50 }, async () => await text(await post(client, server.url))),
    );
    assert.equal(new Set(answers).size, 50);
    assert.ok(server.state.mostOpen <= 4, `the upstream saw ${server.state.mostOpen} connections open at once`);
    assert.ok(waits.length > 0 && waits.every((o) => o === new URL(server.url).host), "waits are reported per origin");
  } finally {
    client.close();
  }
});

Deno.test("requests waiting for a connection are served in arrival order; an aborted one leaves the line", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const served: string[] = [];
  await using server = rawServer(async (reader, index) => {
    for (let request = await reader.next(); request !== null; request = await reader.next()) {
      const id = /x-request-id: (\S+)/i.exec(request.head)![1];
      served.push(id);
      if (index === 0 && id === "first") await held;
      await write(reader.conn, ok(id));
    }
  });
  const client = new PoolClient({ maxConnectionsPerOrigin: 1 });
  const send = (id: string, signal = new AbortController().signal) =>
    client.post(server.url, { headers: [["x-request-id", id]], body, signal }).then(text);
  try {
    const first = send("first");
    await eventuallyTrue(() => served.length === 1);
    const leaving = new AbortController();
    const pending = Promise.allSettled([send("second"), send("third", leaving.signal), send("fourth")]);
    const reason = new Error("left the line");
    leaving.abort(reason);
    release();
    assert.equal(await first, "first");
    const [second, third, fourth] = await pending;
    assert.deepEqual([second, fourth].map((r) => r.status === "fulfilled" && r.value), ["second", "fourth"]);
    assert.ok(third.status === "rejected" && third.reason === reason);
    assert.deepEqual(served, ["first", "second", "fourth"]);
    assert.equal(server.state.connections, 1, "one connection, handed from request to request");
  } finally {
    client.close();
  }
});

Deno.test("a request that cannot get a connection before its signal aborts rejects and opens none", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  await using server = rawServer(async (reader) => {
    await reader.next();
    await held;
    await write(reader.conn, ok("late"));
  });
  const client = new PoolClient({ maxConnectionsPerOrigin: 1 });
  try {
    const first = post(client, server.url);
    await eventuallyTrue(() => server.state.connections === 1);
    await assert.rejects(
      post(client, server.url, AbortSignal.timeout(50)),
      (e) => (e as Error).name === "TimeoutError",
    );
    release();
    assert.equal(await text(await first), "late");
    assert.equal(server.state.connections, 1);
  } finally {
    client.close();
  }
});

/** Polls until `check` holds (bounded by the test runner, not by a timing assertion). */
async function eventuallyTrue(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}
