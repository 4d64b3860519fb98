/** Counting what a redis-server was asked: `INFO commandstats`, for tests that measure Redis round trips. */
import type { Redis } from "ioredis";

/** Calls per command since the last `CONFIG RESETSTAT`, without the INFO and CONFIG calls that read them. */
export async function commandCalls(admin: Redis): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  for (const match of (await admin.info("commandstats")).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1]] = Number(match[2]);
  }
  for (const own of ["info", "config", "config|resetstat"]) delete calls[own];
  return calls;
}

/** Limiter script calls (round trips): EVALSHA plus EVAL (the fallback when Redis forgot the script). */
export async function scriptCalls(admin: Redis): Promise<number> {
  const calls = await commandCalls(admin);
  return (calls.evalsha ?? 0) + (calls.eval ?? 0);
}
