import assert from "node:assert/strict";
import { eventually } from "../tests/support/eventually.ts";
import { freePort, spawnDeno } from "../tests/support/process.ts";
import { FLOORS } from "./floor_targets.ts";

const ANSWER = '{"object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"total_tokens":1}}';

Deno.test("each floor target answers a chat request as the ceiling suite sends it; only `serve` skips the upstream", async (t) => {
  const seen: string[] = [];
  await using upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    seen.push(`${request.method} ${new URL(request.url).pathname} ${JSON.parse(await request.text()).model}`);
    return new Response(ANSWER, { headers: { "content-type": "application/json" } });
  });
  for (const floor of FLOORS) {
    await t.step(floor, async () => {
      const start = seen.length;
      const port = freePort();
      const env = { FLOOR: floor, PORT: String(port), UPSTREAM: `http://127.0.0.1:${upstream.addr.port}` };
      await using _floor = spawnDeno("bench/floor_targets.ts", { env });
      const post = (body: string) => fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", body });
      let answer = "";
      await eventually(async () => {
        const response = await post('{"model":"mock-worker","messages":[]}');
        answer = await response.text();
        return response.status === 200;
      }, { what: `the ${floor} floor answers` });
      const forwarded = seen.length;
      if (floor === "serve") {
        assert.equal(JSON.parse(answer).served, "without an upstream");
        assert.equal(forwarded, start, "serve never calls the upstream");
      } else {
        assert.equal(answer, ANSWER);
        assert.equal(seen.at(-1), "POST /v1/chat/completions mock-worker");
      }
      const refused = await post('{"messages":[]}');
      assert.equal(refused.status, 400, "a body without a model is refused, as the gateway would");
      await refused.body?.cancel();
      assert.equal(seen.length, forwarded, "and not forwarded");
    });
  }
});
