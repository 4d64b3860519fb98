/** helm template of every preset, scenario and focused case, with assertions on the parsed objects. */
import assert from "node:assert/strict";
import {
  chartDir,
  containers,
  everyFileCase,
  helmTemplate,
  type Manifest,
  manifests,
  named,
  ofKind,
  podSpec,
  rendered,
  run,
  workerObjectNames,
  workloads,
} from "./support/chart.ts";

function gpuLimit(spec: Manifest): unknown {
  return containers(spec).map((c) => c.resources?.limits?.["nvidia.com/gpu"]).find((v) => v !== undefined);
}

function hasGpuPool(spec: Manifest): boolean {
  const toleration = (spec.tolerations ?? []).some((t: Manifest) =>
    t.key === "nvidia.com/gpu" && t.operator === "Exists" && t.effect === "NoSchedule"
  );
  return spec.nodeSelector?.nodepool === "gpu" && toleration;
}

function configMap(objects: Manifest[]): Record<string, string> {
  const cm = ofKind(objects, "ConfigMap").find((c) => c.metadata.name.endsWith("-gateway"));
  assert.ok(cm, "gateway ConfigMap rendered");
  return cm.data;
}

function upstreams(objects: Manifest[]): Record<string, string> {
  return Object.fromEntries(configMap(objects).GATEWAY_UPSTREAMS.split(";").map((p) => p.split("=")));
}

Deno.test("every preset and ct scenario renders", async () => {
  const all = await Promise.all(everyFileCase.map(rendered));
  for (const [i, r] of all.entries()) {
    assert.ok(ofKind(r.objects, "Deployment").length >= 2, `${JSON.stringify(everyFileCase[i])} has deployments`);
  }
});

Deno.test("GPU workers get the GPU pool and an nvidia.com/gpu limit, and nothing else does", async () => {
  const all = await Promise.all(everyFileCase.map(rendered));
  let gpuWorkers = 0;
  for (const r of all) {
    for (const { obj, spec } of workloads(r.objects)) {
      const where = `${obj.kind}/${obj.metadata.name}`;
      const backend = obj.metadata.labels["nexus.io/backend"];
      const isGpuBackend = backend === "vllm" || backend === "sglang" || backend === "kserve";
      assert.equal(hasGpuPool(spec), isGpuBackend, `${where}: GPU pool placement iff a GPU backend`);
      assert.equal(gpuLimit(spec) === 1, isGpuBackend, `${where}: nvidia.com/gpu limit iff a GPU backend`);
      if (!isGpuBackend) {
        assert.equal(spec.nodeSelector, undefined, `${where} has no node selector`);
        assert.equal(spec.tolerations, undefined, `${where} has no tolerations`);
      }
      if (isGpuBackend) gpuWorkers++;
    }
  }
  assert.ok(gpuWorkers >= 6, "the presets and scenarios contain GPU workers");
});

Deno.test("values-mock.yaml renders what the chart renders with no values", async () => {
  const [none, mock] = await Promise.all([rendered({}), rendered({ files: ["values-mock.yaml"] })]);
  // The generated key differs between any two renderings; everything else is the same.
  const withoutSecrets = (objects: Manifest[]) => objects.filter((o) => o.kind !== "Secret");
  assert.deepEqual(withoutSecrets(mock.objects), withoutSecrets(none.objects));
});

Deno.test("a worker's image, args, env and resources reach its container after the backend's own", async () => {
  const { objects } = await rendered({
    values: {
      workers: {
        vllm: {
          backend: "vllm",
          model: "m",
          image: { repository: "my/vllm", tag: "v9" },
          args: ["--max-model-len", "8192"],
          env: { VLLM_LOGGING_LEVEL: "DEBUG" },
          resources: { requests: { cpu: "2", memory: "8Gi" }, limits: { memory: "9Gi" } },
        },
      },
      gpuPools: {
        gpu: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{
                  matchExpressions: [{
                    key: "nvidia.com/gpu.product",
                    operator: "In",
                    values: ["NVIDIA-H100-80GB-HBM3"],
                  }],
                }],
              },
            },
          },
        },
      },
    },
  });
  const pod = podSpec(named(objects, "Deployment", "nexus-vllm"))!;
  const c = pod.containers[0];
  assert.equal(c.image, "my/vllm:v9");
  assert.deepEqual(c.args, ["$(MODEL_ID)", "--host", "0.0.0.0", "--port", "8000", "--max-model-len", "8192"]);
  assert.equal(c.env.find((e: Manifest) => e.name === "VLLM_LOGGING_LEVEL").value, "DEBUG");
  assert.deepEqual(c.resources, {
    requests: { cpu: "2", memory: "8Gi" },
    limits: { memory: "9Gi", "nvidia.com/gpu": 1 },
  });
  assert.ok(pod.affinity.nodeAffinity, "the GPU pool's affinity applies to the GPU worker");
  assert.equal(podSpec(named(objects, "Deployment", "nexus-gateway"))!.affinity, undefined, "but not the gateway");
});

Deno.test("the sglang preset canaries 10% of Llama 3 from vLLM to SGLang, both on the GPU pool", async () => {
  const { objects } = await rendered({ files: ["values-sglang.yaml"] });
  const data = configMap(objects);
  assert.deepEqual(JSON.parse(data.GATEWAY_ROUTE_POLICIES), {
    "meta-llama/Meta-Llama-3-8B-Instruct": { strategy: "canary", primary: "vllm", canary: "sglang", percent: 10 },
  });
  assert.deepEqual(upstreams(objects), { sglang: "http://nexus-sglang:30000", vllm: "http://nexus-vllm:8000" });
  assert.equal(data.GATEWAY_DEFAULT_UPSTREAM, "vllm");
  const deployments = ofKind(objects, "Deployment").map((d) => d.metadata.name).sort();
  assert.deepEqual(deployments, ["nexus-gateway", "nexus-redis", "nexus-sglang", "nexus-vllm"]);
});

Deno.test("a worker can override its pool's placement; a mock with a gpu count becomes a GPU worker", async () => {
  const { objects } = await rendered({
    values: {
      workers: {
        vllm: { backend: "vllm", model: "m", tolerations: [], nodeSelector: { pool: "h100" } },
        mock: { gpu: 2 },
      },
      gpuPools: { gpu: { runtimeClassName: "nvidia" } },
    },
  });
  const vllm = podSpec(named(objects, "Deployment", "nexus-vllm"))!;
  assert.equal(vllm.tolerations, undefined, "tolerations removed by the override");
  assert.deepEqual(vllm.nodeSelector, { pool: "h100" });
  assert.equal(vllm.runtimeClassName, "nvidia");
  assert.equal(gpuLimit(vllm), 1, "vllm defaults to one GPU");
  const mock = podSpec(named(objects, "Deployment", "nexus-mock"))!;
  assert.ok(hasGpuPool(mock), "a mock with gpu: 2 is placed on the pool");
  assert.equal(gpuLimit(mock), 2);
});

Deno.test("each exposure mode renders exactly its own objects", async () => {
  const modes = ["clusterIP", "ingress", "gatewayAPI"] as const;
  const results = await Promise.all(modes.map((mode) => rendered({ values: { gateway: { expose: { mode } } } })));
  for (const [i, { objects }] of results.entries()) {
    const mode = modes[i];
    const ingresses = ofKind(objects, "Ingress");
    const routes = ofKind(objects, "HTTPRoute");
    assert.equal(ingresses.length, mode === "ingress" ? 1 : 0, `${mode}: ingresses`);
    assert.equal(routes.length, mode === "gatewayAPI" ? 1 : 0, `${mode}: HTTPRoutes`);
    assert.deepEqual(ofKind(objects, "Service").map((s) => s.spec.type), ["ClusterIP", "ClusterIP", "ClusterIP"]);
    const gatewayService = named(objects, "Service", "nexus-gateway");
    assert.equal(gatewayService?.spec.type, "ClusterIP", `${mode}: the ClusterIP Service is always there`);
  }
  const ingress = ofKind(results[1].objects, "Ingress")[0];
  assert.equal(ingress.spec.rules[0].host, "gateway.local");
  assert.equal(ingress.spec.ingressClassName, "nginx");
  assert.equal(ingress.metadata.annotations["nginx.ingress.kubernetes.io/proxy-buffering"], "off");
  assert.ok(Number(ingress.metadata.annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600);
  const route = ofKind(results[2].objects, "HTTPRoute")[0];
  assert.equal(route.spec.parentRefs[0].name, "nexus-gateway");
  assert.equal(route.spec.rules[0].backendRefs[0].name, "nexus-gateway");
});

Deno.test("ingress TLS uses the given secret for the host", async () => {
  const { objects } = await rendered({
    values: {
      gateway: { expose: { mode: "ingress", ingress: { host: "llm.example.com", tls: { enabled: true } } } },
    },
  });
  const ingress = ofKind(objects, "Ingress")[0];
  assert.deepEqual(ingress.spec.tls, [{ hosts: ["llm.example.com"], secretName: "nexus-gateway-tls" }]);
});

Deno.test("the gateway config lists exactly the enabled workers, external upstreams and policies", async () => {
  const { objects } = await rendered({
    values: {
      workers: {
        mock: {},
        vllm: { backend: "vllm", model: "m" },
        off: { backend: "sglang", enabled: false },
        llama: { backend: "kserve", model: "meta-llama/Meta-Llama-3-8B-Instruct" },
      },
      gateway: {
        externalUpstreams: { bento: "http://bento.ml.svc:3000" },
        routePolicies: {
          m: { strategy: "weighted", weights: { vllm: 3, bento: 1 } },
          n: { strategy: "fallback", upstreams: ["llama", "mock"] },
        },
      },
    },
  });
  assert.deepEqual(upstreams(objects), {
    bento: "http://bento.ml.svc:3000",
    llama: "http://nexus-llama-predictor.nexus.svc.cluster.local/openai",
    mock: "http://nexus-mock:8001",
    vllm: "http://nexus-vllm:8000",
  });
  assert.deepEqual(JSON.parse(configMap(objects).GATEWAY_ROUTE_POLICIES), {
    m: { strategy: "weighted", weights: { vllm: 3, bento: 1 } },
    n: { strategy: "fallback", upstreams: ["llama", "mock"] },
  });
  assert.equal(configMap(objects).GATEWAY_DEFAULT_UPSTREAM, "bento", "first upstream by name when unset");
  assert.ok(!ofKind(objects, "Deployment").some((d) => d.metadata.name === "nexus-off"), "disabled worker absent");
  const isvc = ofKind(objects, "InferenceService")[0];
  assert.equal(isvc.metadata.name, "nexus-llama");
  assert.equal(isvc.spec.predictor.model.modelFormat.name, "huggingface");
  assert.ok(isvc.spec.predictor.model.args.includes("--model_id=meta-llama/Meta-Llama-3-8B-Instruct"));
});

Deno.test("the gateway ConfigMap carries the env contract and the pod reads keys from the Secret", async () => {
  const { objects } = await rendered({});
  const data = configMap(objects);
  for (
    const key of [
      "GATEWAY_PORT",
      "GATEWAY_UPSTREAMS",
      "GATEWAY_DEFAULT_UPSTREAM",
      "GATEWAY_ROUTE_POLICIES",
      "GATEWAY_RATE_LIMIT_RPM",
      "GATEWAY_RATE_LIMIT_FAIL",
      "GATEWAY_DRAIN_GRACE_SECONDS",
      "REDIS_URL",
    ]
  ) assert.ok(key in data, `${key} in the ConfigMap`);
  assert.ok(!("GATEWAY_API_KEYS" in data));
  assert.equal(data.REDIS_URL, "redis://nexus-redis:6379");
  const gateway = podSpec(named(objects, "Deployment", "nexus-gateway"))!;
  const keysEnv = gateway.containers[0].env.find((e: Manifest) => e.name === "GATEWAY_API_KEYS");
  assert.deepEqual(keysEnv.valueFrom.secretKeyRef, { name: "nexus-gateway", key: "GATEWAY_API_KEYS" });
  assert.ok(gateway.terminationGracePeriodSeconds > Number(data.GATEWAY_DRAIN_GRACE_SECONDS));
  const probes = gateway.containers[0];
  assert.equal(probes.livenessProbe.httpGet.path, "/health");
  assert.equal(probes.readinessProbe.httpGet.path, "/ready");
});

Deno.test("no secret value appears in any ConfigMap", async () => {
  const secrets = ["sekret-key-one", "sekret-key-two", "redis://:pa55word@redis.example:6379", "hf_sekrettoken"];
  const { objects } = await rendered({
    values: {
      gateway: { apiKeys: secrets.slice(0, 2) },
      redis: { mode: "external", external: { url: secrets[2] } },
      hfToken: { value: secrets[3] },
      workers: { vllm: { backend: "vllm", model: "m" } },
      grafanaDashboard: { enabled: true },
    },
  });
  const configMaps = ofKind(objects, "ConfigMap");
  assert.ok(configMaps.length >= 2);
  for (const cm of configMaps) {
    const text = JSON.stringify(cm);
    for (const secret of secrets) assert.ok(!text.includes(secret), `${cm.metadata.name} leaks ${secret}`);
  }
  const gatewaySecret = named(objects, "Secret", "nexus-gateway");
  assert.equal(atob(gatewaySecret.data.GATEWAY_API_KEYS), "sekret-key-one,sekret-key-two");
  assert.equal(atob(gatewaySecret.data.REDIS_URL), secrets[2]);
  const hf = named(objects, "Secret", "nexus-model-worker-secrets");
  assert.equal(atob(hf.data.HF_TOKEN), secrets[3]);
});

Deno.test("without keys the chart generates a random one, never a fixed default", async () => {
  const [a, b] = await Promise.all([helmTemplate({}), helmTemplate({})]);
  const key = (text: string) => {
    const secret = named(manifests(text), "Secret", "nexus-gateway");
    return atob(secret.data.GATEWAY_API_KEYS);
  };
  assert.match(key(a.stdout), /^nx-[A-Za-z0-9]{40}$/);
  assert.notEqual(key(a.stdout), key(b.stdout), "two installs get different keys");
  assert.ok(!a.stdout.includes("dev-key"));
});

Deno.test("existingSecret replaces the chart's key Secret", async () => {
  const { objects } = await rendered({ values: { gateway: { existingSecret: "my-keys" } } });
  assert.equal(ofKind(objects, "Secret").length, 0);
  const gateway = podSpec(named(objects, "Deployment", "nexus-gateway"))!;
  const env = gateway.containers[0].env.find((e: Manifest) => e.name === "GATEWAY_API_KEYS");
  assert.equal(env.valueFrom.secretKeyRef.name, "my-keys");
});

Deno.test("the GPU preset runs vLLM with HF_TOKEN from model-worker-secrets, /data cache and a startupProbe", async () => {
  const { objects } = await rendered({ files: ["values-gpu.yaml"] });
  const vllm = named(objects, "Deployment", "nexus-vllm");
  const c = podSpec(vllm)!.containers[0];
  assert.deepEqual(c.command, ["vllm", "serve"]);
  assert.equal(c.args[0], "$(MODEL_ID)");
  const env = Object.fromEntries(c.env.map((e: Manifest) => [e.name, e]));
  assert.equal(env.MODEL_ID.value, "meta-llama/Meta-Llama-3-8B-Instruct");
  assert.deepEqual(env.HF_TOKEN.valueFrom.secretKeyRef, {
    name: "model-worker-secrets",
    key: "HF_TOKEN",
    optional: true,
  });
  assert.ok(c.volumeMounts.some((m: Manifest) => m.mountPath === "/data"));
  assert.equal(c.startupProbe.httpGet.path, "/health");
  assert.ok(c.startupProbe.failureThreshold * c.startupProbe.periodSeconds >= 600, "minutes to load a model");
  assert.equal(ofKind(objects, "HorizontalPodAutoscaler").length, 2, "gateway and vllm HPAs");
  const mockless = ofKind(objects, "Deployment").map((d) => d.metadata.name);
  assert.ok(!mockless.includes("nexus-mock"));
});

Deno.test("mock workers have no startupProbe; a PVC cache renders a claim with the chosen access mode", async () => {
  const { objects } = await rendered({ values: { workers: { mock: { cache: { type: "pvc", size: "5Gi" } } } } });
  const mock = podSpec(named(objects, "Deployment", "nexus-mock"))!;
  assert.equal(mock.containers[0].startupProbe, undefined);
  assert.equal(mock.volumes.find((v: Manifest) => v.name === "cache").persistentVolumeClaim.claimName, "nexus-mock");
  assert.equal(ofKind(objects, "PersistentVolumeClaim")[0].spec.resources.requests.storage, "5Gi");
  assert.deepEqual(ofKind(objects, "PersistentVolumeClaim")[0].spec.accessModes, ["ReadWriteOnce"]);
  const shared = await rendered({
    values: { workers: { mock: { cache: { type: "pvc", accessMode: "ReadWriteMany" } } } },
  });
  assert.deepEqual(ofKind(shared.objects, "PersistentVolumeClaim")[0].spec.accessModes, ["ReadWriteMany"]);
});

Deno.test("a config change rolls the gateway pods through checksum/config", async () => {
  const [a, b] = await Promise.all([
    rendered({}),
    rendered({ values: { gateway: { rateLimit: { rpm: 30 } } } }),
  ]);
  const checksum = (objects: Manifest[]) =>
    named(objects, "Deployment", "nexus-gateway").spec.template.metadata
      .annotations["checksum/config"];
  assert.match(checksum(a.objects), /^[0-9a-f]{64}$/);
  assert.notEqual(checksum(a.objects), checksum(b.objects));
});

Deno.test("the gateway gets a Deployment, ClusterIP Service, ServiceAccount, CPU HPA and PDB", async () => {
  const { objects } = await rendered({});
  const pod = podSpec(named(objects, "Deployment", "nexus-gateway"))!;
  assert.equal(pod.serviceAccountName, named(objects, "ServiceAccount", "nexus-gateway").metadata.name);
  assert.equal(named(objects, "Service", "nexus-gateway").spec.type, "ClusterIP");
  const hpa = named(objects, "HorizontalPodAutoscaler", "nexus-gateway");
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "nexus-gateway" });
  assert.equal(hpa.spec.metrics[0].resource.name, "cpu");
  const pdb = named(objects, "PodDisruptionBudget", "nexus-gateway");
  assert.deepEqual(
    pdb.spec.selector.matchLabels,
    named(objects, "Deployment", "nexus-gateway").spec.selector.matchLabels,
  );
});

Deno.test("workers scale on CPU by default, as in the seed", async () => {
  const { objects } = await rendered({});
  const hpa = named(objects, "HorizontalPodAutoscaler", "nexus-mock");
  assert.equal(hpa.spec.scaleTargetRef.name, "nexus-mock");
  assert.deepEqual(hpa.spec.metrics[0].resource, {
    name: "cpu",
    target: { type: "Utilization", averageUtilization: 70 },
  });
  assert.equal(named(objects, "Deployment", "nexus-mock").spec.replicas, undefined, "the HPA owns the replica count");
});

Deno.test("checksum annotations roll the pods whose keys, settings or HF token change, and only those", async () => {
  const base = { workers: { vllm: { backend: "vllm", model: "m" } } };
  const cases = [
    base,
    { ...base, gateway: { apiKeys: ["a-new-key-123"] } },
    { workers: { vllm: { backend: "vllm", model: "m", env: { VLLM_LOGGING_LEVEL: "DEBUG" } } } },
    { ...base, hfToken: { existingSecret: "other-hf-secret" } },
  ];
  const all = await Promise.all(cases.map((values) => rendered({ values })));
  const annotations = (i: number, name: string) =>
    named(all[i].objects, "Deployment", name).spec.template.metadata.annotations;
  const [gateway, vllm] = [(i: number) => annotations(i, "nexus-gateway"), (i: number) => annotations(i, "nexus-vllm")];
  assert.notEqual(gateway(1)["checksum/secret"], gateway(0)["checksum/secret"], "new keys roll the gateway");
  assert.equal(vllm(1)["checksum/config"], vllm(0)["checksum/config"], "new gateway keys leave the workers alone");
  assert.notEqual(vllm(2)["checksum/config"], vllm(0)["checksum/config"], "a worker setting rolls that worker");
  assert.equal(gateway(2)["checksum/config"], gateway(0)["checksum/config"], "worker env leaves the gateway alone");
  assert.notEqual(vllm(3)["checksum/config"], vllm(0)["checksum/config"], "a new HF_TOKEN source rolls the worker");
});

Deno.test("SGLang and KServe workers get HF_TOKEN from model-worker-secrets; SGLang gets a startupProbe", async () => {
  const [sglang, kserve] = await Promise.all([
    rendered({ files: ["values-sglang.yaml"] }),
    rendered({ files: ["values-kserve.yaml"] }),
  ]);
  const hfRef = (container: Manifest) =>
    container.env.find((e: Manifest) => e.name === "HF_TOKEN")?.valueFrom?.secretKeyRef;
  const c = podSpec(named(sglang.objects, "Deployment", "nexus-sglang"))!.containers[0];
  assert.equal(hfRef(c)?.name, "model-worker-secrets");
  assert.equal(c.startupProbe.httpGet.path, "/health");
  assert.ok(c.startupProbe.failureThreshold * c.startupProbe.periodSeconds >= 600, "minutes to load a model");
  const predictor = named(kserve.objects, "InferenceService", "nexus-llama").spec.predictor;
  assert.equal(hfRef(predictor.model)?.name, "model-worker-secrets");
});

/** What a ServiceMonitor endpoint scrapes: each selected Service's port of that name, kept by its relabelings. */
function scraped(monitor: Manifest, services: Manifest[]): Array<{ service: string; port: Manifest }> {
  const selector: Record<string, string> = monitor.spec.selector.matchLabels;
  const selected = services.filter((s) => Object.entries(selector).every(([k, v]) => s.metadata.labels[k] === v));
  return monitor.spec.endpoints.flatMap((endpoint: Manifest) =>
    selected.filter((service) =>
      (endpoint.relabelings ?? []).every((r: Manifest) => {
        assert.equal(r.action, "keep", "only keep rules are modelled here");
        const label = r.sourceLabels[0].replace(/^__meta_kubernetes_service_label_/, "");
        const value = Object.entries(service.metadata.labels).find(([k]) => k.replace(/[^A-Za-z0-9_]/g, "_") === label);
        return new RegExp(`^(?:${r.regex})$`).test(String(value?.[1] ?? ""));
      })
    ).flatMap((service) => {
      const port = service.spec.ports.find((p: Manifest) => p.name === endpoint.port);
      return port ? [{ service: service.metadata.name, port }] : [];
    })
  );
}

Deno.test("the ServiceMonitor scrapes the gateway's metrics port and the workers' http port, never the gateway's http port", async () => {
  const { objects } = await rendered({ values: { serviceMonitor: { enabled: true } } });
  const [monitor] = ofKind(objects, "ServiceMonitor");
  const targets = scraped(monitor, ofKind(objects, "Service")).map((t) => `${t.service}:${t.port.name}`).sort();
  assert.deepEqual(targets, ["nexus-gateway:metrics", "nexus-mock:http"]);
  const gateway = named(objects, "Service", "nexus-gateway");
  const metrics = gateway.spec.ports.find((p: Manifest) => p.name === "metrics");
  assert.deepEqual([metrics.port, metrics.targetPort], [9464, "metrics"]);
  const container = podSpec(named(objects, "Deployment", "nexus-gateway"))!.containers[0];
  assert.ok(container.ports.some((p: Manifest) => p.name === "metrics" && p.containerPort === 9464));
});

Deno.test("no exposure routes to the gateway's metrics port: Ingress, HTTPRoute and a LoadBalancer Service target http", async () => {
  const metricsPort = 9464;
  for (const mode of ["ingress", "gatewayAPI", "loadBalancer", "clusterIP"]) {
    // A load balancer is the gateway Service's type now, not an exposure mode.
    const gateway = mode === "loadBalancer" ? { service: { type: "LoadBalancer" } } : { expose: { mode } };
    const { objects } = await rendered({ values: { gateway, serviceMonitor: { enabled: true } } });
    const service = named(objects, "Service", "nexus-gateway");
    const servicePort = (ref: { name?: string; number?: number }) =>
      service.spec.ports.find((p: Manifest) => p.name === ref.name || p.port === ref.number);
    for (const ingress of ofKind(objects, "Ingress")) {
      for (const rule of ingress.spec.rules) {
        for (const path of rule.http.paths) assert.equal(servicePort(path.backend.service.port).name, "http", mode);
      }
    }
    for (const route of ofKind(objects, "HTTPRoute")) {
      for (const rule of route.spec.rules) {
        for (const ref of rule.backendRefs) assert.equal(servicePort({ number: ref.port }).name, "http", mode);
      }
    }
    for (const lb of ofKind(objects, "Service").filter((s) => s.spec.type === "LoadBalancer")) {
      for (const port of lb.spec.ports) {
        assert.equal(port.targetPort, "http", mode);
        assert.notEqual(port.port, metricsPort, mode);
      }
    }
    const exposures = ofKind(objects, "Ingress").length + ofKind(objects, "HTTPRoute").length +
      ofKind(objects, "Service").filter((s) => s.spec.type === "LoadBalancer").length;
    assert.equal(exposures, mode === "clusterIP" ? 0 : 1, `${mode} renders its exposure`);
  }
});

Deno.test("names stay within 63 characters and carry the standard labels", async () => {
  const release = "a-very-long-release-name-that-goes-on-and-on-for-ever";
  const { objects } = await rendered({ release, values: { workers: { "a-worker-with-a-very-long-name-x": {} } } });
  for (const obj of objects) {
    assert.ok(obj.metadata.name.length <= 63, `${obj.metadata.name} is too long`);
    for (const label of ["name", "instance", "version", "component", "part-of", "managed-by"]) {
      assert.ok(obj.metadata.labels[`app.kubernetes.io/${label}`], `${obj.kind}/${obj.metadata.name} ${label}`);
    }
    assert.ok(obj.metadata.labels["helm.sh/chart"]);
  }
});

Deno.test("serviceMonitor and grafanaDashboard render when enabled and chart nexus_* and vllm:* metrics", async () => {
  const { objects } = await rendered({
    values: { serviceMonitor: { enabled: true }, grafanaDashboard: { enabled: true } },
  });
  const monitor = ofKind(objects, "ServiceMonitor")[0];
  assert.equal(monitor.spec.endpoints[0].path, "/metrics");
  const dashboard = ofKind(objects, "ConfigMap").find((c) => c.metadata.labels.grafana_dashboard === "1")!;
  const json = JSON.parse(dashboard.data["nexus.json"]);
  const exprs = json.panels.flatMap((p: Manifest) => p.targets.map((t: Manifest) => t.expr)).join("\n");
  assert.match(exprs, /nexus_requests_total/);
  assert.match(exprs, /vllm:num_requests_running/);
  const none = await rendered({});
  assert.equal(ofKind(none.objects, "ServiceMonitor").length, 0);
});

Deno.test("the helm test pod checks /health and a chat completion with the gateway's key", async () => {
  const { objects } = await rendered({});
  const pod = ofKind(objects, "Pod").find((p) => p.metadata.annotations?.["helm.sh/hook"] === "test")!;
  assert.equal(pod.spec.restartPolicy, "Never");
  const script = pod.spec.containers[0].args.join("\n");
  assert.match(script, /\/health/);
  assert.match(script, /\/v1\/chat\/completions/);
  const env = Object.fromEntries(pod.spec.containers[0].env.map((e: Manifest) => [e.name, e]));
  assert.equal(env.MODEL.value, "mock-worker");
  assert.equal(env.GATEWAY_URL.value, "http://nexus-gateway:80");
});

Deno.test("NOTES tells how to read the generated key and reach the gateway in each mode and Service type", async () => {
  const copy = await Deno.makeTempDir();
  try {
    const cp = await new Deno.Command("cp", { args: ["-r", chartDir, `${copy}/nexus`] }).output();
    assert.ok(cp.success);
    await Deno.writeTextFile(
      `${copy}/nexus/templates/zz-notes.yaml`,
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "nexus.notes" . | quote }}\n',
    );
    const notes = async (mode: string) => {
      const set = mode === "LoadBalancer" || mode === "NodePort"
        ? `gateway.service.type=${mode}`
        : `gateway.expose.mode=${mode}`;
      const out = await run("helm", ["template", "nexus", `${copy}/nexus`, "-n", "nexus", "--set", set]);
      assert.equal(out.code, 0, out.stderr);
      return named(manifests(out.stdout), "ConfigMap", "notes").data.notes as string;
    };
    const clusterIP = await notes("clusterIP");
    assert.match(clusterIP, /generated one/);
    assert.match(clusterIP, /get secret nexus-gateway/);
    assert.match(clusterIP, /port-forward svc\/nexus-gateway 8000:80/);
    assert.match(clusterIP, /"model":"mock-worker"/);
    const loadBalancer = await notes("LoadBalancer");
    assert.match(
      loadBalancer,
      /get svc nexus-gateway -o jsonpath='\{\.status\.loadBalancer\.ingress\[0\]\.ip\}.*:80$/m,
    );
    const nodePort = await notes("NodePort");
    assert.match(nodePort, /get svc nexus-gateway -o jsonpath='\{\.spec\.ports\[0\]\.nodePort\}'/);
    const gatewayAPI = await notes("gatewayAPI");
    assert.match(gatewayAPI, /HTTPRoute nexus-gateway/);
    assert.match(gatewayAPI, /get gateway nexus-gateway -o jsonpath='\{\.status\.addresses\[0\]\.value\}'/);
    const byMode = { clusterIP, loadBalancer, nodePort, ingress: await notes("ingress"), gatewayAPI };
    for (const [mode, text] of Object.entries(byMode)) {
      // The smoke test uses $NEXUS_URL: each mode must say how to set it, before the curl lines.
      const exported = text.indexOf("export NEXUS_URL=");
      assert.ok(exported >= 0 && exported < text.indexOf("curl"), `${mode}: NOTES set NEXUS_URL before the smoke test`);
      // Through an Ingress or a Gateway the host picks the route: every curl must send it.
      const curls = text.split("\n").filter((line) => line.trim().startsWith("curl"));
      assert.equal(curls.length, 2, mode);
      const needsHost = mode === "ingress" || mode === "gatewayAPI";
      for (const curl of curls) assert.equal(curl.includes('-H "Host: gateway.local"'), needsHost, `${mode}: ${curl}`);
    }
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
});

Deno.test("Redis is internal by default, external from a URL or Secret, or absent", async () => {
  const [internal, external, none] = await Promise.all([
    rendered({}),
    rendered({ values: { redis: { mode: "external", external: { existingSecret: "redis-creds" } } } }),
    rendered({ values: { redis: { mode: "none" } } }),
  ]);
  const names = (objects: Manifest[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.ok(names(internal.objects).includes("Deployment/nexus-redis"));
  assert.ok(names(internal.objects).includes("Service/nexus-redis"));
  for (const r of [external, none]) assert.ok(!names(r.objects).some((n) => n.endsWith("/nexus-redis")));
  const gatewayEnv = (objects: Manifest[]) => podSpec(named(objects, "Deployment", "nexus-gateway"))!.containers[0].env;
  const redisEnv = gatewayEnv(external.objects).find((e: Manifest) => e.name === "REDIS_URL");
  assert.deepEqual(redisEnv.valueFrom.secretKeyRef, { name: "redis-creds", key: "REDIS_URL" });
  assert.ok(!("REDIS_URL" in configMap(external.objects)));
  assert.ok(!("REDIS_URL" in configMap(none.objects)), "no Redis: the gateway limits in memory");
  assert.ok(!gatewayEnv(none.objects).some((e: Manifest) => e.name === "REDIS_URL"));
});

Deno.test("the workers a user names are exactly the workers deployed; the mock only when none is named or it is", async (t) => {
  await t.step("--set workers.vllm.backend=vllm,workers.vllm.model=m deploys vLLM alone", async () => {
    const args = [
      "template",
      "nexus",
      chartDir,
      "-n",
      "nexus",
      "--set",
      "workers.vllm.backend=vllm,workers.vllm.model=m",
    ];
    const out = await run("helm", args);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(workerObjectNames(manifests(out.stdout)), ["nexus-vllm"]);
    assert.match(configMap(manifests(out.stdout)).GATEWAY_UPSTREAMS, /^vllm=http:\/\/nexus-vllm:8000$/);
  });
  await t.step("no worker named: the mock; the mock named beside another: both", async () => {
    assert.deepEqual(workerObjectNames((await rendered({})).objects), ["nexus-mock"]);
    const both = await rendered({ values: { workers: { mock: {}, vllm: { backend: "vllm", model: "m" } } } });
    assert.deepEqual(workerObjectNames(both.objects), ["nexus-mock", "nexus-vllm"]);
  });
});

Deno.test("terminating pods keep serving while they leave their Service, and the grace period covers it", async () => {
  const { objects } = await rendered({
    values: {
      workers: {
        mock: { drainDelaySeconds: 3, drainGraceSeconds: 20 },
        vllm: { backend: "vllm", model: "m" },
        sglang: { backend: "sglang", model: "m", drainDelaySeconds: 0 },
        llama: { backend: "kserve", model: "m" },
      },
      gateway: { drainDelaySeconds: 7, drainGraceSeconds: 25 },
    },
  });
  const pod = (name: string) => podSpec(named(objects, "Deployment", name))!;
  const env = (name: string) => Object.fromEntries(pod(name).containers[0].env.map((e: Manifest) => [e.name, e.value]));
  assert.equal(pod("nexus-gateway").terminationGracePeriodSeconds, 7 + 25 + 5);
  assert.equal(configMap(objects).GATEWAY_DRAIN_DELAY_SECONDS, "7");
  // The mock drains itself, told how long in ms; vLLM stops accepting at SIGTERM, so a preStop sleep holds it back.
  assert.equal(pod("nexus-mock").terminationGracePeriodSeconds, 3 + 20 + 5);
  assert.deepEqual([env("nexus-mock").WORKER_DRAIN_DELAY_MS, env("nexus-mock").WORKER_SHUTDOWN_GRACE_MS], [
    "3000",
    "20000",
  ]);
  assert.equal(pod("nexus-mock").containers[0].lifecycle, undefined);
  assert.deepEqual(pod("nexus-vllm").containers[0].lifecycle, { preStop: { exec: { command: ["sleep", "5"] } } });
  assert.equal(pod("nexus-vllm").terminationGracePeriodSeconds, 5 + 30 + 5);
  assert.equal(pod("nexus-sglang").containers[0].lifecycle, undefined, "no sleep when the delay is 0");
  assert.equal(env("nexus-vllm").WORKER_DRAIN_DELAY_MS, undefined);
});
