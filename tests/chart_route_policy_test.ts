/**
 * The chart refuses every route policy the gateway refuses, and only those: a fast-check property over random policy
 * objects, each rendered with the real `helm template` and parsed with the gateway's own config parser. The rules
 * live once, in gateway/route_policy.ts; what JSON Schema cannot say is a `fail` in the chart's templates.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError, parsePolicies, parseUpstreams } from "../gateway/config.ts";
import { helmTemplate, manifests, named } from "./support/chart.ts";

/** The release's upstreams: two mock workers and an external upstream, as the chart renders GATEWAY_UPSTREAMS. */
const UPSTREAMS = "a=http://nexus-a:8001;b=http://nexus-b:8001;ext=http://ext.example:3000";
const release = { workers: { a: {}, b: {} }, externalUpstreams: { ext: "http://ext.example:3000" } };

/** Upstream names that exist in the release. */
const known = fc.constantFrom("a", "b", "ext");
/** Well-formed policies (a canary may still name one upstream twice, weights may all be 0). */
const wellFormed = fc.oneof(
  fc.record({
    strategy: fc.constant("canary"),
    primary: known,
    canary: known,
    percent: fc.oneof(fc.constantFrom(0, 10, 100), fc.double({ min: 0, max: 100, noNaN: true })),
  }),
  fc.record({
    strategy: fc.constant("weighted"),
    weights: fc.dictionary(known, fc.oneof(fc.constant(0), fc.double({ min: 0, max: 10, noNaN: true })), {
      minKeys: 1,
      maxKeys: 3,
    }),
  }),
  fc.record({ strategy: fc.constant("fallback"), upstreams: fc.array(known, { minLength: 1, maxLength: 3 }) }),
);
/** Values no field takes: unknown or malformed names, numbers out of range, wrong types. */
const bad = fc.constantFrom("ghost", "A_b", "", "a b", 7, -1, 100.5, 1e9, "10", null, true, [], {}, ["ghost"], [
  "a",
  7,
]);
/** One change that may break a well-formed policy: a field dropped, replaced or added, another strategy. */
const mutation = fc.oneof(
  fc.record({ drop: fc.constantFrom("strategy", "primary", "canary", "percent", "weights", "upstreams") }),
  fc.record({ set: fc.constantFrom("primary", "canary", "percent", "weights", "upstreams", "extra"), to: bad }),
  fc.record({ strategy: fc.constantFrom("canary", "weighted", "fallback", "roundrobin") }),
);
const policy = fc.tuple(wellFormed, fc.option(mutation, { freq: 2 })).map(([base, change]) => {
  const out: Record<string, unknown> = { ...base };
  if (change === null) return out;
  if ("drop" in change) delete out[change.drop];
  else if ("set" in change) out[change.set] = change.to;
  else out.strategy = change.strategy;
  return out;
});
const model = fc.constantFrom("meta-llama/Meta-Llama-3-8B-Instruct", "m", "qwen 2.5", "");
const policies = fc.dictionary(
  model,
  fc.oneof({ weight: 9, arbitrary: policy }, { weight: 1, arbitrary: fc.constant(null) }),
  {
    minKeys: 1,
    maxKeys: 2,
  },
);

/**
 * What Helm hands on from values: a null deletes a key where the chart's defaults have that map (routePolicies is one,
 * `{}`), so a policy set to null is no policy; deeper down (inside a policy) a null stays and meets the schema.
 */
function asHelmPasses(routePolicies: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(routePolicies).filter(([, policy]) => policy !== null));
}

/** What the gateway makes of the policies: accepted (the parsed map) or refused (its message). */
function gatewayVerdict(value: Record<string, unknown>): { accepted: boolean; message: string } {
  try {
    parsePolicies(JSON.stringify(value), parseUpstreams(UPSTREAMS));
    return { accepted: true, message: "" };
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return { accepted: false, message: error.message };
  }
}

Deno.test("helm template refuses a route policy exactly when the gateway's config parser does", async () => {
  const seen = { accepted: 0, refused: 0 };
  await fc.assert(
    fc.asyncProperty(policies, async (routePolicies) => {
      const gateway = gatewayVerdict(asHelmPasses(routePolicies));
      const helm = await helmTemplate({
        values: { workers: release.workers, gateway: { externalUpstreams: release.externalUpstreams, routePolicies } },
      });
      const chart = JSON.stringify(routePolicies);
      assert.equal(
        helm.code === 0,
        gateway.accepted,
        `${chart}: helm ${helm.code === 0 ? "accepts" : `refuses (${helm.stderr.trim()})`}, the gateway ${
          gateway.accepted ? "accepts" : `refuses (${gateway.message})`
        }`,
      );
      if (helm.code === 0) {
        seen.accepted++;
        const data = named(manifests(helm.stdout), "ConfigMap", "nexus-gateway").data;
        assert.equal(data.GATEWAY_UPSTREAMS, UPSTREAMS);
        const parsed = parsePolicies(data.GATEWAY_ROUTE_POLICIES, parseUpstreams(data.GATEWAY_UPSTREAMS));
        const given = JSON.parse(JSON.stringify(asHelmPasses(routePolicies))); // plain objects, as parsed
        assert.deepEqual(Object.fromEntries(parsed), given, `${chart}: rendered as given`);
      } else {
        seen.refused++;
        assert.match(helm.stderr, /routePolicies/, `${chart}: the refusal names the policy`);
      }
    }),
    { numRuns: 50 },
  );
  assert.ok(seen.accepted >= 5 && seen.refused >= 5, `both outcomes were tried: ${JSON.stringify(seen)}`);
});

Deno.test("the two rules JSON Schema cannot say fail the chart naming the policy, as they fail the gateway", async () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [
      { m: { strategy: "canary", primary: "a", canary: "a", percent: 10 } },
      /routePolicies\["m"\]\.canary: must differ/,
    ],
    [{ m: { strategy: "weighted", weights: { a: 0, b: 0 } } }, /routePolicies\["m"\]\.weights: at least one weight/],
  ];
  for (const [routePolicies, message] of cases) {
    const helm = await helmTemplate({
      values: { workers: release.workers, gateway: { externalUpstreams: release.externalUpstreams, routePolicies } },
    });
    assert.notEqual(helm.code, 0, JSON.stringify(routePolicies));
    assert.match(helm.stderr, message);
    assert.equal(gatewayVerdict(routePolicies).accepted, false);
  }
});
