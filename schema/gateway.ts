/** zod types of the gateway's chart values: deployment, routing, keys, rate limit and exposure. */
import { z } from "zod";
import { ROUTING_DEFAULTS } from "../gateway/config.ts";
import { PICKERS, routePolicy } from "../gateway/route_policy.ts";
import { autoscaling, image, kubeObject, probeTimings, resources, stringMap, toleration } from "./common.ts";
import { containerExtras, podScheduling, securityContexts } from "./pod.ts";

/** The name of an external upstream (a DNS label, like the workers' names). */
const upstreamName = z.string().regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);

const expose = z.strictObject({
  mode: z.enum(["clusterIP", "ingress", "gatewayAPI", "loadBalancer"]).default("clusterIP").describe(
    "What the chart adds in front of the gateway Service: clusterIP (nothing), ingress (an Ingress) or gatewayAPI " +
      "(an HTTPRoute). For a load balancer set gateway.service.type=LoadBalancer (loadBalancer here was chart " +
      "0.1.0's second Service; it now fails and says so).",
  ),
  ingress: z.strictObject({
    className: z.string().default("nginx").describe("IngressClass name."),
    host: z.string().default("gateway.local").describe("Host name routed to the gateway."),
    annotations: z.record(z.string(), z.string()).default({
      "nginx.ingress.kubernetes.io/proxy-buffering": "off",
      "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
      "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
      "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
      "nginx.ingress.kubernetes.io/proxy-body-size": "8m",
    }).describe("Ingress annotations; the defaults keep SSE streaming unbuffered on ingress-nginx."),
    tls: z.strictObject({
      enabled: z.boolean().default(false).describe("Serve TLS for host."),
      secretName: z.string().default("").describe("TLS Secret name; empty: <fullname>-gateway-tls."),
    }).prefault({}).describe("TLS for the Ingress."),
  }).prefault({}).describe("Settings for mode ingress."),
  gatewayAPI: z.strictObject({
    parentRefs: z.array(z.strictObject({
      name: z.string().min(1).describe("Gateway name."),
      namespace: z.string().optional().describe("Gateway namespace; omitted: the release namespace."),
      sectionName: z.string().optional().describe("Listener name."),
    })).min(1).default([{ name: "nexus-gateway" }]).describe("Gateways the HTTPRoute attaches to."),
    hostnames: z.array(z.string()).default(["gateway.local"]).describe("Host names the HTTPRoute matches."),
    timeout: z.string().default("3600s").describe("HTTPRoute request timeout (long, for streams)."),
  }).prefault({}).describe("Settings for mode gatewayAPI."),
}).prefault({}).describe("Exposure of the gateway.");

/** How the gateway chooses a worker pod per request (GATEWAY_PICKER and its parameters, GATEWAY_DISCOVERY). */
const routing = z.strictObject({
  picker: z.enum(PICKERS).default(ROUTING_DEFAULTS.picker).describe(
    "Endpoint picker of every upstream (GATEWAY_PICKER): round_robin, least_request (fewer in flight of two drawn at " +
      "random), load (queue and KV use scraped from each pod's /metrics) or prefix (the pod that served the longest " +
      "prefix of the prompt, bounded by load). A route policy's picker overrides it per model.",
  ),
  loadScrapeMs: z.int().min(10).max(60_000).default(ROUTING_DEFAULTS.loadScrapeMs).describe(
    "load and prefix: how often each pod's /metrics is scraped, in ms (GATEWAY_LOAD_SCRAPE_MS).",
  ),
  prefix: z.strictObject({
    blockBytes: z.int().min(16).max(65_536).multipleOf(16).default(ROUTING_DEFAULTS.prefixBlockBytes).describe(
      "Bytes of the serialized prompt per hashed block, a multiple of 16 (GATEWAY_PREFIX_BLOCK_BYTES).",
    ),
    cacheBlocks: z.int().min(1).max(16_777_216).default(ROUTING_DEFAULTS.prefixCacheBlocks).describe(
      "Prompt blocks remembered per upstream, least recently used forgotten first (GATEWAY_PREFIX_CACHE_BLOCKS).",
    ),
    loadThreshold: z.int().min(0).max(1_000_000).default(ROUTING_DEFAULTS.prefixLoadThreshold).describe(
      "How much more loaded (in requests) the pod holding the prefix may be than the least loaded pod before the " +
        "request goes by load (GATEWAY_PREFIX_LOAD_THRESHOLD).",
    ),
    minMatch: z.number().min(0).max(1).default(ROUTING_DEFAULTS.prefixMinMatch).describe(
      "Share (0..1) of a request's hashed prompt blocks a pod must hold for affinity; a shorter match goes as " +
        "least_request (GATEWAY_PREFIX_MIN_MATCH).",
    ),
  }).prefault({}).describe("Parameters of the prefix picker."),
  sessionHeader: z.string().regex(/^([!#$%&'*+.^_`|~0-9A-Za-z-]+)?$/, "an HTTP header name").default("").describe(
    "prefix: a request header (e.g. x-session-id) whose value pins a session to a pod (GATEWAY_SESSION_HEADER); " +
      "empty: none.",
  ),
  discovery: z.boolean().default(true).describe(
    "Discover the ready pods of Deployment workers that can run more than one replica (autoscaling, KEDA or " +
      "replicas above 1) from their Service's EndpointSlices (GATEWAY_DISCOVERY), so each request is picked per pod; " +
      "adds a Role and RoleBinding that let the gateway's ServiceAccount get, list and watch EndpointSlices in the " +
      "release namespace. Off, or for other upstreams: one URL (the Service), balanced by connection.",
  ),
}).prefault({}).describe("Per-pod routing inside each upstream.");

const otel = z.strictObject({
  enabled: z.boolean().default(false).describe(
    "Export OpenTelemetry traces: a server span per request and a client span per upstream attempt, OTLP over HTTP.",
  ),
  endpoint: z.union([z.literal(""), z.url({ protocol: /^https?$/ })]).default("").describe(
    "The collector's OTLP/HTTP base URL, e.g. http://otel-collector.observability:4318 " +
      "(OTEL_EXPORTER_OTLP_ENDPOINT; /v1/traces is appended). Required when enabled.",
  ),
  protocol: z.enum(["http/protobuf", "http/json"]).default("http/protobuf").describe(
    "OTLP encoding (OTEL_EXPORTER_OTLP_PROTOCOL). gRPC is not supported.",
  ),
  samplingRatio: z.number().min(0).max(1).default(1).describe(
    "Share of new traces recorded (OTEL_TRACES_SAMPLER=parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG); " +
      "a request whose traceparent says sampled or not follows its caller.",
  ),
  serviceName: z.string().default("nexus-gateway").describe("The traces' service.name (OTEL_SERVICE_NAME)."),
  resourceAttributes: stringMap(
    "More resource attributes (OTEL_RESOURCE_ATTRIBUTES), e.g. deployment.environment.name: prod.",
  ),
  headersSecret: z.strictObject({
    name: z.string().default("").describe("Secret name; empty: no headers."),
    key: z.string().default("OTEL_EXPORTER_OTLP_HEADERS").describe("Key of the headers in the Secret."),
  }).prefault({}).describe(
    "Export headers for a collector that wants credentials (OTEL_EXPORTER_OTLP_HEADERS, key=value pairs separated " +
      "by commas, values percent-encoded), read from a Secret so they stay out of values and ConfigMaps.",
  ),
}).prefault({}).describe("OpenTelemetry traces of the gateway (README, Tracing).");

/** The gateway's values. */
export const gateway = z.strictObject({
  image: image("ghcr.io/nexus-llm/nexus-gateway", "", "Gateway image (gateway/Dockerfile)."),
  replicas: z.int().min(0).default(2).describe("Replicas when autoscaling is off."),
  port: z.int().min(1).max(65535).default(8000).describe("Container port of the API and probes (GATEWAY_PORT)."),
  metricsPort: z.int().min(1).max(65535).default(9464).describe(
    "Container and ClusterIP Service port of /metrics (GATEWAY_METRICS_PORT). Only the ServiceMonitor targets it: " +
      "no exposure mode (Ingress, HTTPRoute, LoadBalancer) routes to it.",
  ),
  service: z.strictObject({
    type: z.enum(["ClusterIP", "NodePort", "LoadBalancer"]).default("ClusterIP").describe(
      "Service type: ClusterIP (in-cluster), NodePort, or LoadBalancer (an external address from the cloud or MetalLB).",
    ),
    port: z.int().min(1).max(65535).default(80).describe("Service port."),
    nodePort: z.int().min(30000).max(32767).optional().describe(
      "Node port (types NodePort and LoadBalancer); unset: Kubernetes picks one.",
    ),
    annotations: stringMap("Service annotations (cloud load-balancer settings, MetalLB address pools...)."),
    loadBalancerClass: z.string().default("").describe(
      "LoadBalancer implementation (type LoadBalancer), e.g. service.k8s.aws/nlb; empty: the cluster default.",
    ),
    loadBalancerIP: z.string().default("").describe(
      "Requested address (type LoadBalancer), where the provider honours it; MetalLB prefers the annotation " +
        "metallb.io/loadBalancerIPs. Empty: any.",
    ),
    loadBalancerSourceRanges: z.array(z.string()).default([]).describe(
      "CIDRs allowed to reach the load balancer (type LoadBalancer).",
    ),
    externalTrafficPolicy: z.enum(["Cluster", "Local"]).default("Cluster").describe(
      "Types NodePort and LoadBalancer: Local keeps the client's source IP and skips the second hop.",
    ),
  }).prefault({}).describe("The gateway's Service (<fullname>-gateway)."),
  resources: resources({ cpu: "100m", memory: "128Mi" }, { memory: "512Mi" }, "Gateway container resources."),
  autoscaling: autoscaling(true, 2, 10, "CPU-based HorizontalPodAutoscaler for the gateway."),
  pdb: z.strictObject({
    enabled: z.boolean().default(true).describe("Create a PodDisruptionBudget."),
    minAvailable: z.int().min(0).default(1).describe("Pods kept during voluntary disruptions."),
  }).prefault({}).describe("PodDisruptionBudget for the gateway."),
  serviceAccount: z.strictObject({
    create: z.boolean().default(true).describe("Create a ServiceAccount."),
    name: z.string().default("").describe("ServiceAccount name; empty: <fullname>-gateway."),
    annotations: stringMap("ServiceAccount annotations (cloud IAM bindings)."),
  }).prefault({}).describe("The gateway's ServiceAccount."),
  ...podScheduling("gateway", [
    { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway" },
  ]),
  nodeSelector: stringMap("Gateway node selector (never the GPU pool's)."),
  tolerations: z.array(toleration).default([]).describe("Gateway tolerations."),
  affinity: kubeObject("Gateway affinity."),
  defaultUpstream: z.string().default("").describe(
    "GATEWAY_DEFAULT_UPSTREAM for models without a policy; empty: the first enabled upstream by name.",
  ),
  externalUpstreams: z.record(upstreamName, z.url()).default({}).describe(
    "Extra OpenAI-compatible upstreams (name to base URL), e.g. a BentoML service or a managed endpoint.",
  ),
  // Model names are any string here: an empty one fails in the templates, naming gateway.routePolicies (Helm's schema
  // error for a property name names no path). The gateway refuses it too (policyModel in gateway/route_policy.ts).
  routePolicies: z.record(z.string(), routePolicy).default({}).describe(
    "GATEWAY_ROUTE_POLICIES keyed by the request's model: canary, weighted or fallback over upstream names " +
      "(the gateway's own definition, gateway/route_policy.ts).",
  ),
  routing,
  apiKeys: z.array(z.string().min(8)).default([]).describe(
    "API keys (GATEWAY_API_KEYS), stored in a Secret. Empty and no existingSecret: a random key is generated once.",
  ),
  existingSecret: z.string().default("").describe("Use this Secret for the keys instead (key GATEWAY_API_KEYS)."),
  rateLimit: z.strictObject({
    rpm: z.int().min(1).default(600).describe("Requests per minute per key (GATEWAY_RATE_LIMIT_RPM)."),
    tpm: z.int().min(0).default(0).describe(
      "Tokens (prompt + completion) per minute per key; 0: no token budget (GATEWAY_RATE_LIMIT_TPM).",
    ),
    tokensPerDay: z.int().min(0).default(0).describe(
      "Tokens (prompt + completion) per day per key; 0: no daily quota (GATEWAY_RATE_LIMIT_TOKENS_PER_DAY).",
    ),
    failMode: z.enum(["open", "closed"]).default("open").describe(
      "When Redis is down: open admits, closed refuses (GATEWAY_RATE_LIMIT_FAIL).",
    ),
  }).prefault({}).describe("Per-key request and token budgets, shared by all replicas through Redis."),
  drainDelaySeconds: z.int().min(0).default(5).describe(
    "Seconds a terminating gateway keeps serving (not ready, Connection: close) while Kubernetes removes it from " +
      "Service endpoints and load balancers (GATEWAY_DRAIN_DELAY_SECONDS).",
  ),
  drainGraceSeconds: z.int().min(0).default(25).describe(
    "Then, seconds in-flight streams get to finish (GATEWAY_DRAIN_GRACE_SECONDS). The pod's " +
      "terminationGracePeriodSeconds is drainDelaySeconds + drainGraceSeconds + 5.",
  ),
  env: stringMap(
    "Extra environment variables (other GATEWAY_* settings); the ones the chart sets from values are refused.",
  ),
  otel,
  ...containerExtras("gateway"),
  probes: z.strictObject({
    liveness: probeTimings({ periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3 }, "Liveness (/health)."),
    readiness: probeTimings({ periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 2 }, "Readiness (/ready)."),
  }).prefault({}).describe("Probe timings."),
  ...securityContexts("gateway", 1993),
  expose,
}).prefault({}).describe("The gateway.");
