/**
 * A bench run of some suites (`--suites=routing`) keeps the saved results of the others, so that BENCHMARKS.md still
 * shows every section; each kept section says when it was measured.
 */

import type { BenchResults } from "./results.ts";
import type { SuiteName } from "./plan.ts";

/** The field of BenchResults that holds each suite's results. */
const FIELDS = {
  latency: "latency",
  ceiling: "ceiling",
  streaming: "streaming",
  "rate-limit": "rateLimit",
  routing: "routing",
} as const satisfies Record<SuiteName, keyof BenchResults>;

/**
 * `fresh` with the results of every suite it did not run taken from `saved` (with their measuring time), and the
 * versions it could not read (tools those suites need) taken from `saved` too.
 */
export function keepUnmeasured(fresh: BenchResults, saved: BenchResults, ran: readonly SuiteName[]): BenchResults {
  const merged: BenchResults = { ...fresh, measuredAt: { ...fresh.measuredAt } };
  const target = merged as unknown as Record<string, unknown>;
  for (const suite of Object.keys(FIELDS) as SuiteName[]) {
    if (ran.includes(suite)) continue;
    const key = FIELDS[suite];
    target[key] = (saved as unknown as Record<string, unknown>)[key] ?? (Array.isArray(target[key]) ? [] : null);
    if (hasResults(saved, suite)) merged.measuredAt![suite] = saved.measuredAt?.[suite] ?? saved.startedAt;
  }
  merged.versions = { ...fresh.versions };
  for (const [name, version] of Object.entries(saved.versions)) {
    if (merged.versions[name] === undefined || merged.versions[name].startsWith("unavailable")) {
      merged.versions[name] = version;
    }
  }
  return merged;
}

/** True when `results` holds something for `suite`. */
export function hasResults(results: BenchResults, suite: SuiteName): boolean {
  const value = (results as unknown as Record<string, unknown>)[FIELDS[suite]];
  return Array.isArray(value) ? value.length > 0 : value !== null && value !== undefined;
}
