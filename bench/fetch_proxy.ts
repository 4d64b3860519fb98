/**
 * The floor for a Deno proxy: the smallest pass-through that Deno's fetch allows (read the body, check it has a
 * model, fetch upstream, stream the answer back). No auth, limits, routing, metrics or logs. The bench runs it
 * beside Nexus so the report can tell the runtime's cost from the gateway's.
 * Usage: PORT=... UPSTREAM=http://127.0.0.1:... deno run -A bench/fetch_proxy.ts
 */

const port = Number(Deno.env.get("PORT"));
const upstream = Deno.env.get("UPSTREAM");
if (!port || !upstream) throw new Error("set PORT and UPSTREAM");
const decoder = new TextDecoder();

Deno.serve({ hostname: "127.0.0.1", port }, async (request) => {
  const url = new URL(request.url);
  const body = await request.bytes();
  if (typeof JSON.parse(decoder.decode(body)).model !== "string") return new Response("model missing", { status: 400 });
  const answer = await fetch(`${upstream}${url.pathname}`, {
    method: request.method,
    headers: { "content-type": "application/json" },
    body,
    signal: request.signal,
  });
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
});
