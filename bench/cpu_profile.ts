/**
 * Summarises a V8 .cpuprofile (from `deno run --cpu-prof`): the functions and the files where the samples fall,
 * by self time, plus the total time under a few named parts of the gateway. Used to explain where time goes.
 * Usage: deno run -A bench/cpu_profile.ts <file.cpuprofile> [top=25]
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One row of a summary: a name and its share of all samples. */
export interface ProfileRow {
  name: string;
  selfShare: number;
  totalShare: number;
}

function shortUrl(url: string): string {
  if (!url) return "(native)";
  const nodeModules = url.indexOf("node_modules/");
  if (nodeModules >= 0) return url.slice(nodeModules + "node_modules/".length).replace(/^\.deno\//, "");
  return url.replace(/^file:\/\/.*?\/(gateway|worker|bench)\//, "$1/").replace(/^ext:/, "ext:");
}

/** Self and total (inclusive) sample shares per function and per file of a profile. */
export function summarise(profile: CpuProfile): { functions: ProfileRow[]; files: ProfileRow[]; idleShare: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfCount = new Map<number, number>();
  for (const id of profile.samples) selfCount.set(id, (selfCount.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const fnSelf = new Map<string, number>();
  const fnTotal = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  const fileTotal = new Map<string, number>();
  let idle = 0;
  for (const [id, count] of selfCount) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") idle += count;
    const fn = `${functionName || "(anonymous)"} ${shortUrl(url)}:${lineNumber + 1}`;
    const file = shortUrl(url);
    fnSelf.set(fn, (fnSelf.get(fn) ?? 0) + count);
    fileSelf.set(file, (fileSelf.get(file) ?? 0) + count);
    // Inclusive: count each distinct function and file once per stack.
    const seenFn = new Set<string>();
    const seenFile = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const name = `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
      if (!seenFn.has(name)) {
        seenFn.add(name);
        fnTotal.set(name, (fnTotal.get(name) ?? 0) + count);
      }
      const f = shortUrl(frame.url);
      if (!seenFile.has(f)) {
        seenFile.add(f);
        fileTotal.set(f, (fileTotal.get(f) ?? 0) + count);
      }
    }
  }
  const rows = (self: Map<string, number>, inclusive: Map<string, number>) =>
    [...inclusive.keys()].map((name) => ({
      name,
      selfShare: (self.get(name) ?? 0) / total,
      totalShare: (inclusive.get(name) ?? 0) / total,
    }));
  return {
    functions: rows(fnSelf, fnTotal).sort((a, b) => b.selfShare - a.selfShare),
    files: rows(fileSelf, fileTotal).sort((a, b) => b.selfShare - a.selfShare),
    idleShare: idle / total,
  };
}

if (import.meta.main) {
  const [path, topArg] = Deno.args;
  const top = Number(topArg ?? 25);
  const profile = JSON.parse(await Deno.readTextFile(path)) as CpuProfile;
  const { functions, files, idleShare } = summarise(profile);
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  console.log(`samples: ${profile.samples.length}, idle ${pct(idleShare)}`);
  console.log("\nself   total  function");
  for (const row of functions.slice(0, top)) console.log(`${pct(row.selfShare)} ${pct(row.totalShare)}  ${row.name}`);
  console.log("\nself   total  file");
  for (const row of files.slice(0, top)) console.log(`${pct(row.selfShare)} ${pct(row.totalShare)}  ${row.name}`);
  console.log("\ninclusive, gateway functions");
  for (
    const row of functions.filter((r) => r.name.includes("gateway/")).sort((a, b) => b.totalShare - a.totalShare).slice(
      0,
      top,
    )
  ) {
    console.log(`${pct(row.selfShare)} ${pct(row.totalShare)}  ${row.name}`);
  }
}
