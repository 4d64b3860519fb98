import assert from "node:assert/strict";
import { summarise } from "./cpu_profile.ts";

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0, columnNumber: 0 });

Deno.test("profile summary: self time where samples land, total time counted once per stack", () => {
  const profile = {
    nodes: [
      { id: 1, callFrame: frame("(root)", ""), children: [2, 4] },
      { id: 2, callFrame: frame("handle", "file:///x/gateway/server.ts"), children: [3] },
      { id: 3, callFrame: frame("fetch", "ext:deno_fetch/26_fetch.js") },
      { id: 4, callFrame: frame("(idle)", "") },
    ],
    samples: [3, 3, 2, 4],
    timeDeltas: [1, 1, 1, 1],
    startTime: 0,
    endTime: 4,
  };
  const { functions, files, idleShare } = summarise(profile);
  const fetchRow = functions.find((r) => r.name.startsWith("fetch "))!;
  const handleRow = functions.find((r) => r.name.startsWith("handle "))!;
  assert.deepEqual([fetchRow.selfShare, fetchRow.totalShare], [0.5, 0.5]);
  assert.deepEqual([handleRow.selfShare, handleRow.totalShare], [0.25, 0.75]);
  assert.equal(files.find((r) => r.name === "gateway/server.ts")!.totalShare, 0.75);
  assert.equal(idleShare, 0.25);
});
