/** The zod type of the whole chart's values: the single source of values.schema.json, values.yaml and the docs. */
import { z } from "zod";
import { image, probeTimings, resources, stringMap } from "./common.ts";
import { gateway } from "./gateway.ts";
import { gpuPools, legacyGpuPool } from "./gpu_pools.ts";
import { podScheduling, securityContexts } from "./pod.ts";
import { workers } from "./workers.ts";

const redis = z.strictObject({
  mode: z.enum(["internal", "external", "none"]).default("internal").describe(
    "internal (a single Redis in the release), external (REDIS_URL from url or a Secret) or none " +
      "(each gateway replica limits on its own).",
  ),
  image: image("redis", "7.4-alpine", "Redis image (mode internal)."),
  resources: resources({ cpu: "50m", memory: "64Mi" }, { memory: "256Mi" }, "Redis resources (mode internal)."),
  ...podScheduling("Redis"),
  probes: z.strictObject({
    liveness: probeTimings({ periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3 }, "Liveness (TCP)."),
    readiness: probeTimings({ periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 3 }, "Readiness (PING)."),
  }).prefault({}).describe("Probe timings (mode internal)."),
  ...securityContexts("Redis", 999),
  external: z.strictObject({
    url: z.string().default("").describe("redis:// URL (mode external); stored in the gateway Secret."),
    existingSecret: z.string().default("").describe("Secret holding the URL (mode external) instead of url."),
    existingSecretKey: z.string().default("REDIS_URL").describe("Key of the URL in existingSecret."),
  }).prefault({}).describe("External Redis (mode external)."),
}).prefault({}).describe("Redis for the shared rate limit.");

/** Every value of charts/nexus. */
export const values = z.strictObject({
  global: z.strictObject({
    imageRegistry: z.string().regex(/^([^/]+(\/[^/]+)*)?$/).default("").describe(
      "Registry (host[:port][/path]) that replaces the registry host of every image the chart renders, e.g. a " +
        "mirror: ghcr.io/nexus-llm/nexus-gateway becomes <registry>/nexus-llm/nexus-gateway, redis becomes " +
        "<registry>/library/redis. Empty: each image's own.",
    ),
  }).prefault({}).describe("Settings for every image and pod of the release."),
  nameOverride: z.string().default("").describe("Replaces the chart name in object names."),
  fullnameOverride: z.string().default("").describe("Replaces <release>-<chart> in object names."),
  commonLabels: stringMap("Labels added to every object."),
  imagePullSecrets: z.array(z.strictObject({ name: z.string().min(1).describe("Secret name.") })).default([])
    .describe("Pull secrets for every pod."),
  gateway,
  workers,
  gpuPools,
  gpuPool: legacyGpuPool,
  hfToken: z.strictObject({
    value: z.string().default("").describe(
      "Hugging Face token; when set the chart stores it in <fullname>-model-worker-secrets.",
    ),
    existingSecret: z.string().default("").describe(
      "Secret with the token (e.g. model-worker-secrets); used instead of value.",
    ),
    key: z.string().default("HF_TOKEN").describe("Key of the token in the Secret."),
  }).prefault({}).describe("HF_TOKEN for gated models, passed to vllm, sglang and kserve workers from a Secret."),
  redis,
  networkPolicy: z.strictObject({
    enabled: z.boolean().default(false).describe(
      "Create NetworkPolicies: workers and Redis accept traffic only from the gateway; the gateway accepts anyone " +
        "on its API port and nobody on its metrics port except metricsFrom.",
    ),
    metricsFrom: z.array(z.record(z.string(), z.unknown())).default([]).describe(
      "NetworkPolicy peers (e.g. a namespaceSelector for your Prometheus) also let into the gateway's metrics port " +
        "and the workers' http port (where their /metrics shares the API) to scrape /metrics.",
    ),
  }).prefault({}).describe("NetworkPolicies."),
  serviceMonitor: z.strictObject({
    enabled: z.boolean().default(false).describe("Create a ServiceMonitor (monitoring.coreos.com/v1)."),
    interval: z.string().default("30s").describe("Scrape interval."),
    labels: stringMap("Extra labels, e.g. the one your Prometheus selects on."),
  }).prefault({}).describe("Prometheus Operator scraping of the gateway and workers."),
  grafanaDashboard: z.strictObject({
    enabled: z.boolean().default(false).describe("Create the dashboard ConfigMap."),
    labels: z.record(z.string(), z.string()).default({ grafana_dashboard: "1" }).describe(
      "Labels Grafana's sidecar looks for.",
    ),
  }).prefault({}).describe("Grafana dashboard of nexus_* and vllm:* metrics, as a ConfigMap for Grafana's sidecar."),
  tests: z.strictObject({
    image: image("curlimages/curl", "8.11.1", "Image of the helm test pod."),
    model: z.string().default("").describe("Model the helm test asks; empty: the default upstream's model."),
  }).prefault({}).describe("The `helm test` pod: /health and one chat completion through the gateway."),
});

/** The values as a user writes them (defaults optional). */
export type ValuesInput = z.input<typeof values>;
/** The values with every default filled in. */
export type Values = z.output<typeof values>;
