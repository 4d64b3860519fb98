import assert from "node:assert/strict";
import { runDeno, spawnDeno, startRedis, waitForUrl } from "./process.ts";

Deno.test("startRedis runs a redis-server that answers and is gone after stop", async () => {
  const redis = await startRedis();
  const status = await redis.stop();
  assert.equal(status.success || status.signal === "SIGTERM", true);
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: redis.port }));
});

Deno.test("a spawned Deno child's output is captured and a SIGTERM stops it", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `const s = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: ({ port }) => console.log("port " + port) },
        () => new Response("ok"));
       Deno.addSignalListener("SIGTERM", () => { console.error("bye"); s.shutdown().then(() => Deno.exit(0)); });`,
    );
    await using child = spawnDeno(script);
    const line = await child.waitForLine(/^port \d+$/);
    await waitForUrl(`http://127.0.0.1:${line.split(" ")[1]}/`, { child });
    const status = await child.stop();
    assert.equal(status.code, 0);
    assert.ok(child.stderr.includes("bye"));
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("runDeno reports the exit code and the output of an entry that exits", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(script, `console.error("bad X=" + Deno.env.get("X")); Deno.exit(3);`);
    const result = await runDeno(script, { env: { X: "y" } });
    assert.equal(result.code, 3);
    assert.equal(result.stderr, "bad X=y");
  } finally {
    await Deno.remove(script);
  }
});
