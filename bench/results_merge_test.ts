import assert from "node:assert/strict";
import type { BenchResults } from "./results.ts";
import { keepUnmeasured } from "./results_merge.ts";

function results(startedAt: string, parts: Partial<BenchResults>): BenchResults {
  return {
    startedAt,
    finishedAt: startedAt,
    plan: {} as BenchResults["plan"],
    machine: {},
    versions: {},
    commands: [],
    loadAverage: { start: "", end: "" },
    latency: [],
    ceiling: [],
    streaming: [],
    rateLimit: null,
    routing: null,
    notes: [],
    ...parts,
  };
}

Deno.test("a run of one suite keeps the saved results of the others, with when they were measured", () => {
  const routing = { startedAt: "new", finishedAt: "new", loadAverage: { start: "", end: "" }, workloads: [], runs: [] };
  const saved = results("2026-01-01", {
    latency: [{ round: 1, target: "direct", oneConnection: null, open: [] }],
    versions: { deno: "2.0", wrk: "4.2.0", nginx: "1.26" },
    measuredAt: { latency: "2025-12-31" },
  });
  const fresh = results("2026-02-02", {
    routing,
    versions: { deno: "2.1", wrk: "unavailable (NotFound)" },
    measuredAt: { routing: "2026-02-02" },
  });
  const merged = keepUnmeasured(fresh, saved, ["routing"]);
  assert.equal(merged.routing, routing);
  assert.deepEqual(merged.latency, saved.latency);
  assert.deepEqual(merged.ceiling, []);
  assert.equal(merged.rateLimit, null);
  assert.deepEqual(merged.measuredAt, { routing: "2026-02-02", latency: "2025-12-31" }, "empty suites get no date");
  assert.deepEqual(merged.versions, { deno: "2.1", wrk: "4.2.0", nginx: "1.26" }, "this run's versions win");
});
