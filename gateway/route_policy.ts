/**
 * The route policy format of GATEWAY_ROUTE_POLICIES: one zod definition, read by the gateway's config parser and by
 * the chart's values schema (schema/gateway.ts imports it; the gateway image copies only gateway/, so it lives here).
 */
import { z } from "zod";

/** Upstream names as GATEWAY_UPSTREAMS defines them. */
export const UPSTREAM_NAME = /^[A-Za-z0-9_.-]+$/;

/** An upstream name. */
export const upstreamName = z.string().regex(UPSTREAM_NAME, "upstream names use letters, digits, '_', '.', '-'");

/** The endpoint pickers: how a request chooses one endpoint (pod) of an upstream (GATEWAY_PICKER, a policy's `picker`). */
export const PICKERS = ["round_robin", "least_request", "load", "prefix"] as const;
/** An endpoint picker's name. */
export type PickerName = typeof PICKERS[number];

/** A policy's own picker, overriding GATEWAY_PICKER for its model. */
const picker = z.enum(PICKERS).optional().describe(
  "Endpoint picker for this model's upstreams (round_robin, least_request, load, prefix); default GATEWAY_PICKER.",
);

/** The model a policy is for: the request's exact `model` string (a request never has an empty one). */
export const policyModel = z.string().min(1, "a model name must not be empty");

const canary = z.strictObject({
  strategy: z.literal("canary").describe("Send percent% to canary, the rest to primary."),
  primary: upstreamName.describe("Upstream that takes most traffic."),
  canary: upstreamName.describe("Upstream that takes percent% of traffic; must differ from primary."),
  percent: z.number().min(0).max(100).describe("Share of traffic for the canary, 0..100."),
  picker,
}).refine((policy) => policy.primary !== policy.canary, { path: ["canary"], message: "must differ from primary" });

const weighted = z.strictObject({
  strategy: z.literal("weighted").describe("Split traffic by weight."),
  weights: z.record(upstreamName, z.number().min(0))
    .refine((weights) => Object.values(weights).some((w) => w > 0), "at least one weight must be greater than 0")
    .describe("Upstream name to weight (a number >= 0; at least one above 0)."),
  picker,
});

const fallback = z.strictObject({
  strategy: z.literal("fallback").describe("Try upstreams in order."),
  upstreams: z.array(upstreamName).min(1).describe("Upstream names, first preferred."),
  picker,
});

/**
 * A routing policy for one model. Two rules are zod refinements that JSON Schema cannot express (canary differs from
 * primary, a weight above 0): the chart's templates check those with a `fail` (nexus.routePolicies in _helpers.tpl).
 */
export const routePolicy = z.discriminatedUnion("strategy", [canary, weighted, fallback]);

/** A routing policy for one model. */
export type RoutePolicy = z.output<typeof routePolicy>;

/** The upstream names a policy refers to, each with the field that names it (for error messages). */
export function policyUpstreams(policy: RoutePolicy): Array<[field: string, name: string]> {
  switch (policy.strategy) {
    case "canary":
      return [["primary", policy.primary], ["canary", policy.canary]];
    case "weighted":
      return Object.keys(policy.weights).map((name) => [`weights[${JSON.stringify(name)}]`, name]);
    case "fallback":
      return policy.upstreams.map((name, i) => [`upstreams[${i}]`, name]);
  }
}
