/** Small zod building blocks shared by the chart value types (Kubernetes shapes kept open where Kubernetes owns them). */
import { z } from "zod";

/** A map of string to string: labels, annotations, node selectors. */
export const stringMap = (what: string) => z.record(z.string(), z.string()).default({}).describe(what);

/** Any Kubernetes object the chart passes through unchanged (affinity, a probe override). */
export const kubeObject = (what: string) => z.record(z.string(), z.unknown()).default({}).describe(what);

/** An image digest, `sha256:` and 64 hex digits. */
const digest = z.string().regex(/^(sha256:[a-f0-9]{64})?$/);

/** A container image reference. */
export const image = (repository: string, tag: string, what: string) =>
  z.strictObject({
    repository: z.string().min(1).default(repository).describe(
      "Image repository; global.imageRegistry, when set, replaces its registry host.",
    ),
    tag: z.string().default(tag).describe(
      "Image tag; empty means the chart's appVersion where the image is Nexus's own.",
    ),
    digest: digest.default("").describe("Image digest (sha256:...); set, it wins over the tag (repository@digest)."),
    pullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent").describe("Image pull policy."),
  }).prefault({}).describe(what);

/** A worker's image: empty fields take its backend's default. */
export const workerImage = z.strictObject({
  repository: z.string().default("").describe(
    "Image repository; empty: the backend's default image. global.imageRegistry, when set, replaces its registry host.",
  ),
  tag: z.string().default("").describe("Image tag; empty: the backend's default tag."),
  digest: digest.default("").describe("Image digest (sha256:...); set, it wins over the tag (repository@digest)."),
  pullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent").describe("Image pull policy."),
}).prefault({}).describe("Container image; empty fields take the backend's default.");

/** A Kubernetes quantity: a string such as "500m" or "1Gi", or a number. */
export const quantity = z.union([z.string().regex(/^[0-9.]+[a-zA-Z]*$/), z.number().nonnegative()]);

/** An int-or-percent field, as in maxUnavailable: 1 or "25%". */
export const intOrPercent = z.union([z.int().min(0), z.string().regex(/^[0-9]+%$/)]);

/** Container resource requests and limits. */
export const resources = (requests: Record<string, string>, limits: Record<string, string>, what: string) =>
  z.strictObject({
    requests: z.record(z.string(), quantity).default(requests).describe("Resource requests (cpu, memory)."),
    limits: z.record(z.string(), quantity).default(limits).describe("Resource limits."),
  }).prefault({}).describe(what);

/** A toleration, as in a Pod spec. */
export const toleration = z.strictObject({
  key: z.string().optional().describe("Taint key."),
  operator: z.enum(["Exists", "Equal"]).optional().describe("Exists or Equal."),
  value: z.string().optional().describe("Taint value (with Equal)."),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional().describe("Taint effect."),
  tolerationSeconds: z.int().nonnegative().optional().describe("How long a NoExecute taint is tolerated."),
});

/** A CPU-based HorizontalPodAutoscaler. */
export const autoscaling = (enabled: boolean, min: number, max: number, what: string) =>
  z.strictObject({
    enabled: z.boolean().default(enabled).describe(
      "Create a HorizontalPodAutoscaler (it then owns the replica count).",
    ),
    minReplicas: z.int().min(1).default(min).describe("Fewest replicas."),
    maxReplicas: z.int().min(1).default(max).describe("Most replicas."),
    targetCPUUtilizationPercentage: z.int().min(1).max(100).default(70).describe("Average CPU utilisation to aim at."),
    behavior: kubeObject(
      "HPA scaling behavior (autoscaling/v2 scaleUp/scaleDown: stabilizationWindowSeconds, policies); " +
        "empty: Kubernetes' default.",
    ),
  }).prefault({}).describe(what);

/** Timings of one probe; the chart owns what it checks (path, port). */
export const probeTimings = (
  d: { periodSeconds: number; timeoutSeconds: number; failureThreshold: number },
  what: string,
) =>
  z.strictObject({
    initialDelaySeconds: z.int().min(0).default(0).describe("Seconds before the first probe."),
    periodSeconds: z.int().min(1).default(d.periodSeconds).describe("Seconds between probes."),
    timeoutSeconds: z.int().min(1).default(d.timeoutSeconds).describe("Seconds a probe may take."),
    failureThreshold: z.int().min(1).default(d.failureThreshold).describe("Failures in a row that count."),
  }).prefault({}).describe(what);
