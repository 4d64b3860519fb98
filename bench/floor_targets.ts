/**
 * The floors the ceiling suite measures beside Nexus, so every run shows how far the gateway is from them. Each reads
 * the request body and checks it has a `model`, like the gateway; none has auth, limits, routing, metrics or logs.
 * - `serve`: `Deno.serve` answering by itself, no upstream: the server's own floor.
 * - `pool`: the bare pooled proxy: the gateway's HTTP/1.1 client over Deno.connect (gateway/upstream_pool.ts), the
 *   answer read whole and sent back as bytes.
 * - `fetch`: the bare fetch proxy: Deno's fetch, the answer streamed back.
 * Usage: FLOOR=serve|pool|fetch PORT=... UPSTREAM=http://127.0.0.1:... deno run -A bench/floor_targets.ts
 */
import { answerOf } from "../gateway/upstream_client.ts";
import { PoolClient } from "../gateway/upstream_pool.ts";

/** The floors, by their FLOOR value. */
export const FLOORS = ["serve", "pool", "fetch"] as const;
/** One floor. */
export type Floor = typeof FLOORS[number];

const JSON_TYPE: Array<[string, string]> = [["content-type", "application/json"]];
const decoder = new TextDecoder();

/** True when the body is JSON with a string `model` (the only check every floor makes). */
function hasModel(body: Uint8Array): boolean {
  return typeof JSON.parse(decoder.decode(body)).model === "string";
}

/** The request handler of one floor, forwarding to `upstream` (an origin). */
function floorHandler(floor: Floor, upstream: string): (request: Request) => Promise<Response> {
  const pool = new PoolClient();
  return async (request) => {
    const body = await request.bytes();
    if (!hasModel(body)) return new Response("model missing", { status: 400 });
    const url = `${upstream}${new URL(request.url).pathname}`;
    switch (floor) {
      case "serve":
        return new Response('{"served":"without an upstream"}', { headers: JSON_TYPE });
      case "pool": {
        const answer = answerOf(await pool.post(url, { headers: JSON_TYPE, body, signal: request.signal }));
        return new Response(await answer.bytes(), { status: answer.status, headers: JSON_TYPE });
      }
      case "fetch": {
        const answer = await fetch(url, { method: "POST", headers: JSON_TYPE, body, signal: request.signal });
        return new Response(answer.body, { status: answer.status, headers: answer.headers });
      }
    }
  };
}

if (import.meta.main) {
  const floor = Deno.env.get("FLOOR") as Floor;
  const port = Number(Deno.env.get("PORT"));
  const upstream = Deno.env.get("UPSTREAM");
  if (!FLOORS.includes(floor) || !port || !upstream) throw new Error(`set FLOOR (${FLOORS.join("|")}), PORT, UPSTREAM`);
  Deno.serve({ hostname: "127.0.0.1", port }, floorHandler(floor, upstream));
}
