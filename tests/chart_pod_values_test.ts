/**
 * The values every component's pod takes: image registry and digest, pod metadata, priority and spreading, extra env
 * and volumes, security context overrides and profiles, probe timings, pull secrets.
 */
import assert from "node:assert/strict";
import { containers, type Manifest, named, ofKind, podSpec, rendered, workloads } from "./support/chart.ts";

const digest = `sha256:${"ab".repeat(32)}`;

/** Renders a mock, a vLLM and a KServe worker beside the gateway and Redis, with `perComponent` on each. */
function everyComponent(perComponent: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return rendered({
    values: {
      gateway: perComponent,
      redis: perComponent,
      workers: {
        mock: perComponent,
        vllm: { backend: "vllm", model: "m", ...perComponent },
        llama: { backend: "kserve", model: "x/y", ...perComponent },
      },
      ...extra,
    },
  });
}

/** The pod template metadata of a workload (a KServe predictor keeps labels and annotations on itself). */
function podMeta(obj: Manifest): Manifest {
  return obj.kind === "InferenceService" ? obj.spec.predictor : obj.spec.template.metadata;
}

const components = [
  ["Deployment", "nexus-gateway"],
  ["Deployment", "nexus-redis"],
  ["Deployment", "nexus-mock"],
  ["Deployment", "nexus-vllm"],
  ["InferenceService", "nexus-llama"],
] as const;

Deno.test("global.imageRegistry replaces the registry of every image the chart renders", async () => {
  const { objects } = await rendered({
    values: {
      global: { imageRegistry: "mirror.example.com/hub" },
      workers: { mock: {}, vllm: { backend: "vllm", model: "m" } },
    },
  });
  const images = workloads(objects).flatMap(({ spec }) => containers(spec).map((c: Manifest) => c.image)).sort();
  assert.deepEqual(images, [
    "mirror.example.com/hub/curlimages/curl:8.11.1",
    "mirror.example.com/hub/library/redis:7.4-alpine",
    "mirror.example.com/hub/nexus-llm/nexus-gateway:0.1.0",
    "mirror.example.com/hub/nexus-llm/nexus-model-worker:0.1.0",
    "mirror.example.com/hub/vllm/vllm-openai:v0.11.0",
  ]);
});

Deno.test("an image digest wins over its tag, for the gateway, Redis, workers and the test pod", async () => {
  const image = { digest };
  const { objects } = await rendered({
    values: {
      gateway: { image: { tag: "1.2.3", digest } },
      redis: { image },
      tests: { image },
      workers: { mock: { image }, vllm: { backend: "vllm", model: "m", image: { repository: "my/vllm", digest } } },
    },
  });
  const images = workloads(objects).flatMap(({ spec }) => containers(spec).map((c: Manifest) => c.image)).sort();
  assert.deepEqual(images, [
    `curlimages/curl@${digest}`,
    `ghcr.io/nexus-llm/nexus-gateway@${digest}`,
    `ghcr.io/nexus-llm/nexus-model-worker@${digest}`,
    `my/vllm@${digest}`,
    `redis@${digest}`,
  ]);
});

Deno.test("podAnnotations and podLabels reach the pods of every component, next to the chart's own labels", async () => {
  const { objects } = await everyComponent({
    podAnnotations: { "example.com/owner": "ml-platform" },
    podLabels: { team: "inference" },
  });
  for (const [kind, name] of components) {
    const meta = podMeta(named(objects, kind, name));
    assert.equal(meta.annotations["example.com/owner"], "ml-platform", `${name} annotations`);
    assert.equal(meta.labels.team, "inference", `${name} labels`);
  }
  const gateway = named(objects, "Deployment", "nexus-gateway");
  assert.equal(gateway.spec.template.metadata.labels["app.kubernetes.io/component"], "gateway");
});

Deno.test("priorityClassName reaches the pods of every component", async () => {
  const { objects } = await everyComponent({ priorityClassName: "inference-high" });
  for (const [kind, name] of components) {
    assert.equal(podSpec(named(objects, kind, name))!.priorityClassName, "inference-high", name);
  }
});

Deno.test("the gateway spreads over nodes by default (soft); a constraint without labelSelector counts its own pods", async () => {
  const zone = { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule" };
  const [defaults, custom] = await Promise.all([
    rendered({}),
    everyComponent({ topologySpreadConstraints: [zone] }),
  ]);
  const gateway = named(defaults.objects, "Deployment", "nexus-gateway");
  assert.deepEqual(podSpec(gateway)!.topologySpreadConstraints, [{
    maxSkew: 1,
    topologyKey: "kubernetes.io/hostname",
    whenUnsatisfiable: "ScheduleAnyway",
    labelSelector: { matchLabels: gateway.spec.selector.matchLabels },
  }]);
  assert.equal(podSpec(named(defaults.objects, "Deployment", "nexus-mock"))!.topologySpreadConstraints, undefined);
  for (const [kind, name] of components) {
    const obj = named(custom.objects, kind, name);
    const selector = kind === "InferenceService"
      ? { "serving.kserve.io/inferenceservice": name }
      : obj.spec.selector.matchLabels;
    assert.deepEqual(podSpec(obj)!.topologySpreadConstraints, [{ ...zone, labelSelector: { matchLabels: selector } }]);
  }
  const given = { ...zone, labelSelector: { matchLabels: { app: "x" } } };
  const kept = await rendered({ values: { gateway: { topologySpreadConstraints: [given] } } });
  assert.deepEqual(podSpec(named(kept.objects, "Deployment", "nexus-gateway"))!.topologySpreadConstraints, [given]);
});

Deno.test("extraEnv (with valueFrom), extraEnvFrom, extraVolumes and extraVolumeMounts reach the gateway and workers", async () => {
  const extras = {
    extraEnv: [
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "OTEL_EXPORTER_OTLP_HEADERS", valueFrom: { secretKeyRef: { name: "otel", key: "headers" } } },
      { name: "PLAIN", value: "1" },
    ],
    extraEnvFrom: [{ secretRef: { name: "shared-env" } }, {
      configMapRef: { name: "tuning", optional: true },
      prefix: "T_",
    }],
    extraVolumes: [{ name: "models", persistentVolumeClaim: { claimName: "models" } }],
    extraVolumeMounts: [{ name: "models", mountPath: "/models", readOnly: true }],
  };
  const { objects } = await rendered({
    values: {
      gateway: extras,
      workers: {
        mock: extras,
        vllm: { backend: "vllm", model: "m", ...extras },
        llama: { backend: "kserve", model: "x/y", ...extras },
      },
    },
  });
  for (const [kind, name] of components.filter(([, n]) => n !== "nexus-redis")) {
    const spec = podSpec(named(objects, kind, name))!;
    const c = containers(spec)[0];
    for (const env of extras.extraEnv) assert.deepEqual(c.env.find((e: Manifest) => e.name === env.name), env, name);
    for (const source of extras.extraEnvFrom) {
      assert.ok(c.envFrom.some((e: Manifest) => JSON.stringify(e) === JSON.stringify(source)), name);
    }
    assert.deepEqual(spec.volumes.find((v: Manifest) => v.name === "models"), extras.extraVolumes[0], name);
    assert.deepEqual(c.volumeMounts.find((m: Manifest) => m.name === "models"), extras.extraVolumeMounts[0], name);
  }
  // The chart's ConfigMap comes last, so a user's envFrom source cannot replace GATEWAY_UPSTREAMS and friends.
  const gateway = containers(podSpec(named(objects, "Deployment", "nexus-gateway"))!)[0];
  assert.equal(gateway.envFrom.at(-1).configMapRef.name, "nexus-gateway");
});

Deno.test("podSecurityContext and securityContext merge over the chart's; null removes a key (OpenShift's UIDs)", async () => {
  const openShift = {
    podSecurityContext: { runAsUser: null, runAsGroup: null, fsGroup: null },
    securityContext: { capabilities: { add: ["NET_BIND_SERVICE"] } },
  };
  const { objects } = await rendered({
    values: {
      gateway: openShift,
      redis: openShift,
      workers: { mock: openShift, vllm: { backend: "vllm", model: "m", ...openShift } },
    },
  });
  for (const name of ["nexus-gateway", "nexus-redis", "nexus-mock", "nexus-vllm"]) {
    const spec = podSpec(named(objects, "Deployment", name))!;
    assert.deepEqual(spec.securityContext, { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } }, name);
    assert.deepEqual(containers(spec)[0].securityContext, {
      allowPrivilegeEscalation: false,
      capabilities: { add: ["NET_BIND_SERVICE"], drop: ["ALL"] },
      privileged: false,
      readOnlyRootFilesystem: true,
    }, name);
  }
});

Deno.test("securityProfile imageUser runs a model server as the image's user on a writable root, capabilities dropped", async () => {
  const { objects } = await rendered({
    values: {
      workers: {
        vllm: { backend: "vllm", model: "m", securityProfile: "imageUser" },
        sglang: { backend: "sglang", model: "m" },
        llama: { backend: "kserve", model: "x/y", securityProfile: "imageUser" },
      },
    },
  });
  for (const [kind, name] of [["Deployment", "nexus-vllm"], ["InferenceService", "nexus-llama"]] as const) {
    const spec = podSpec(named(objects, kind, name))!;
    assert.deepEqual(spec.securityContext, { seccompProfile: { type: "RuntimeDefault" } }, name);
    const c = containers(spec)[0];
    assert.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      privileged: false,
      readOnlyRootFilesystem: false,
    }, name);
    const env = c.env.map((e: Manifest) => e.name);
    assert.ok(!env.includes("USER") && !env.includes("HOME"), `${name}: USER and HOME stay the image's`);
  }
  const restricted = podSpec(named(objects, "Deployment", "nexus-sglang"))!;
  assert.equal(restricted.securityContext.runAsUser, 1000, "restricted is the default");
  assert.equal(containers(restricted)[0].securityContext.readOnlyRootFilesystem, true);
  assert.ok(containers(restricted)[0].env.some((e: Manifest) => e.name === "USER" && e.value === "nexus"));
});

Deno.test("probe timings are set per component; the startupProbe fits startupTimeoutSeconds", async () => {
  const timings = { initialDelaySeconds: 3, periodSeconds: 7, timeoutSeconds: 4, failureThreshold: 6 };
  const { objects } = await rendered({
    values: {
      gateway: { probes: { liveness: timings, readiness: timings } },
      redis: { probes: { liveness: timings, readiness: timings } },
      workers: {
        mock: { probes: { liveness: timings, readiness: timings } },
        vllm: {
          backend: "vllm",
          model: "m",
          startupTimeoutSeconds: 600,
          probes: { liveness: timings, startup: { periodSeconds: 15, timeoutSeconds: 9 } },
        },
      },
    },
  });
  const pick = (probe: Manifest) => ({
    initialDelaySeconds: probe.initialDelaySeconds,
    periodSeconds: probe.periodSeconds,
    timeoutSeconds: probe.timeoutSeconds,
    failureThreshold: probe.failureThreshold,
  });
  for (const name of ["nexus-gateway", "nexus-redis", "nexus-mock"]) {
    const c = containers(podSpec(named(objects, "Deployment", name))!)[0];
    assert.deepEqual(pick(c.livenessProbe), timings, `${name} liveness`);
    assert.deepEqual(pick(c.readinessProbe), timings, `${name} readiness`);
  }
  const vllm = containers(podSpec(named(objects, "Deployment", "nexus-vllm"))!)[0];
  assert.deepEqual(pick(vllm.livenessProbe), timings);
  assert.equal(vllm.readinessProbe.periodSeconds, 5, "readiness keeps its defaults");
  assert.deepEqual(
    [vllm.startupProbe.periodSeconds, vllm.startupProbe.timeoutSeconds, vllm.startupProbe.failureThreshold],
    [15, 9, 40],
  );
});

Deno.test("imagePullSecrets reach every pod the chart renders", async () => {
  const { objects } = await rendered({
    values: {
      imagePullSecrets: [{ name: "regcred" }],
      workers: { mock: {}, llama: { backend: "kserve", model: "x/y" } },
    },
  });
  const pods = workloads(objects);
  assert.ok(pods.length >= 5, "gateway, Redis, mock, InferenceService and test pod");
  for (const { obj, spec } of pods) {
    assert.deepEqual(spec.imagePullSecrets, [{ name: "regcred" }], `${obj.kind}/${obj.metadata.name}`);
  }
  assert.equal(ofKind(objects, "Pod").length, 1);
});
