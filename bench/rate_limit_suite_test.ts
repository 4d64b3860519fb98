import assert from "node:assert/strict";
import { parseCommandStats } from "./rate_limit_suite.ts";

Deno.test("INFO commandstats becomes calls per command, script-internal commands included", () => {
  const info = "# Commandstats\r\ncmdstat_evalsha:calls=600,usec=9000,usec_per_call=15.00\r\n" +
    "cmdstat_get:calls=600,usec=600,usec_per_call=1.00\r\ncmdstat_config|resetstat:calls=1,usec=5\r\n";
  assert.deepEqual(parseCommandStats(info), { evalsha: 600, get: 600, "config|resetstat": 1 });
});
