/** Rate-limit exactness: several Nexus replicas share one Redis; one key sends more than its budget at once. */

import type { Child } from "./process_group.ts";
import type { RateLimitRun } from "./results.ts";
import { type Service, startRedis } from "./services.ts";
import { suiteCannedUpstream, type SuiteContext, suiteTargetOptions } from "./suite_context.ts";
import { BENCH_KEY, startNexus } from "./targets.ts";
import { chatBody } from "./http_request.ts";

/** Parses `INFO commandstats` into calls per command (cmdstat_evalsha:calls=12,... -> { evalsha: 12 }). */
export function parseCommandStats(info: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]] = Number(match[2]);
  return calls;
}

async function redisCli(ctx: SuiteContext, redis: Service, args: string[]): Promise<string> {
  const output = await new Deno.Command(ctx.tools.redisCli, {
    args: ["-h", "127.0.0.1", "-p", String(redis.port), ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) throw new Error(`redis-cli ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  return new TextDecoder().decode(output.stdout);
}

/** Runs the burst and counts answers; admitted must be what the limiter's rule allows, exactly. */
export async function runRateLimitSuite(ctx: SuiteContext): Promise<RateLimitRun> {
  const { plan } = ctx;
  const redis = await startRedis(ctx.group, {
    name: "redis-rate-limit",
    redisServer: ctx.tools.redisServer,
    cpus: plan.targetCpus,
  });
  const body = chatBody({ model: "mock-worker", stream: false, maxTokens: plan.latencyWorker.maxTokens });
  const canned = await suiteCannedUpstream(
    ctx,
    "canned-upstream-rate-limit",
    '{"id":"x","object":"chat.completion","choices":[]}',
  );
  const replicas: Array<{ child: Child; url: string }> = [];
  for (let i = 1; i <= plan.replicas; i++) {
    const { child, port } = await startNexus({
      ...suiteTargetOptions(ctx, { upstreamUrl: canned.url, redisUrl: redis.url, suite: "rate-limit" }),
      name: `nexus-replica-${i}`,
      redis: true,
      env: { GATEWAY_RATE_LIMIT_RPM: String(plan.budget) },
    });
    replicas.push({ child, url: `http://127.0.0.1:${port}/v1/chat/completions` });
  }
  const sent = plan.budget * 3;
  const statuses = new Map<number, number>();
  let next = 0;
  await redisCli(ctx, redis, ["CONFIG", "RESETSTAT"]);
  const startedAt = performance.now();
  ctx.say(`rate limit: ${sent} requests, budget ${plan.budget}/min, ${plan.replicas} replicas`);
  await Promise.all(Array.from({ length: plan.limitConcurrency }, async () => {
    while (next < sent) {
      const replica = replicas[next++ % replicas.length];
      const response = await fetch(replica.url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": BENCH_KEY },
        body,
      });
      await response.body?.cancel();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }
  }));
  const seconds = (performance.now() - startedAt) / 1000;
  const redisCalls = parseCommandStats(await redisCli(ctx, redis, ["INFO", "commandstats"]));
  for (const own of ["info", "config", "config|resetstat"]) delete redisCalls[own];
  const totalCalls = Object.values(redisCalls).reduce((a, b) => a + b, 0);
  const roundTrips = (redisCalls.evalsha ?? 0) + (redisCalls.eval ?? 0);
  const refillMs = 60_000 / plan.budget;
  for (const replica of replicas) await ctx.group.stop(replica.child);
  await ctx.group.stop(canned.child);
  await ctx.group.stop(redis.child);
  const otherStatuses: Record<string, number> = {};
  for (const [status, count] of statuses) if (status !== 200 && status !== 429) otherStatuses[status] = count;
  return {
    replicas: plan.replicas,
    budget: plan.budget,
    allowedMin: plan.budget,
    allowedMax: plan.budget + Math.floor((seconds * 1000) / refillMs),
    sent,
    admitted: statuses.get(200) ?? 0,
    limited: statuses.get(429) ?? 0,
    otherStatuses,
    redisCalls,
    redisCallsPerRequest: totalCalls / sent,
    redisRoundTripsPerRequest: roundTrips / sent,
    seconds,
  };
}
