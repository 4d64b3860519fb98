/** Disruption budgets, HPA behavior, KEDA queue-length scaling, InferencePools and the gateway Service's type. */
import assert from "node:assert/strict";
import { type Manifest, named, ofKind, podSpec, rendered } from "./support/chart.ts";

const prometheus = "http://prometheus-operated.monitoring.svc:9090";

Deno.test("every Deployment worker gets a PodDisruptionBudget over its pods: maxUnavailable 1 unless told", async () => {
  const { objects } = await rendered({
    values: {
      workers: {
        mock: {},
        vllm: { backend: "vllm", model: "m", pdb: { minAvailable: "50%" } },
        quiet: { pdb: { enabled: false } },
        llama: { backend: "kserve", model: "x/y" },
      },
    },
  });
  const mock = named(objects, "PodDisruptionBudget", "nexus-mock");
  assert.deepEqual(mock.spec, {
    maxUnavailable: 1,
    selector: { matchLabels: named(objects, "Deployment", "nexus-mock").spec.selector.matchLabels },
  });
  assert.deepEqual(named(objects, "PodDisruptionBudget", "nexus-vllm").spec.minAvailable, "50%");
  assert.equal(named(objects, "PodDisruptionBudget", "nexus-vllm").spec.maxUnavailable, undefined);
  const names = ofKind(objects, "PodDisruptionBudget").map((p) => p.metadata.name).sort();
  assert.deepEqual(names, ["nexus-gateway", "nexus-mock", "nexus-vllm"], "none when disabled or for KServe");
});

Deno.test("autoscaling.behavior reaches the gateway's and the workers' HorizontalPodAutoscalers", async () => {
  const behavior = {
    scaleDown: { stabilizationWindowSeconds: 600, policies: [{ type: "Pods", value: 1, periodSeconds: 120 }] },
  };
  const { objects } = await rendered({
    values: { gateway: { autoscaling: { behavior } }, workers: { mock: { autoscaling: { behavior } } } },
  });
  for (const name of ["nexus-gateway", "nexus-mock"]) {
    assert.deepEqual(named(objects, "HorizontalPodAutoscaler", name).spec.behavior, behavior, name);
  }
  const plain = await rendered({});
  assert.equal(named(plain.objects, "HorizontalPodAutoscaler", "nexus-mock").spec.behavior, undefined);
});

Deno.test("keda scales a worker on its backend's queue from Prometheus, in place of the CPU HPA", async () => {
  const keda = { enabled: true, serverAddress: prometheus };
  const behavior = { scaleUp: { stabilizationWindowSeconds: 0 } };
  const { objects } = await rendered({
    values: {
      workers: {
        vllm: { backend: "vllm", model: "m", keda, autoscaling: { minReplicas: 2, maxReplicas: 6, behavior } },
        sglang: {
          backend: "sglang",
          model: "m",
          keda: {
            ...keda,
            threshold: 2.5,
            pollingInterval: 5,
            cooldownPeriod: 60,
            authenticationRef: "prom-auth",
            query: "max(sglang:num_queue_reqs)",
          },
        },
        mock: { keda },
      },
    },
  });
  const vllm = named(objects, "ScaledObject", "nexus-vllm").spec;
  assert.deepEqual(vllm.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "nexus-vllm" });
  assert.deepEqual([vllm.minReplicaCount, vllm.maxReplicaCount], [2, 6]);
  assert.deepEqual([vllm.pollingInterval, vllm.cooldownPeriod], [15, 300]);
  assert.deepEqual(vllm.advanced.horizontalPodAutoscalerConfig.behavior, behavior);
  assert.deepEqual(vllm.triggers, [{
    type: "prometheus",
    metricType: "AverageValue",
    metadata: {
      serverAddress: prometheus,
      query: 'sum(vllm:num_requests_waiting{namespace="nexus",service="nexus-vllm"})',
      threshold: "5",
    },
  }]);
  const sglang = named(objects, "ScaledObject", "nexus-sglang").spec;
  assert.deepEqual(sglang.triggers[0].metadata, {
    serverAddress: prometheus,
    query: "max(sglang:num_queue_reqs)",
    threshold: "2.5",
  });
  assert.deepEqual(sglang.triggers[0].authenticationRef, { name: "prom-auth" });
  assert.deepEqual([sglang.pollingInterval, sglang.cooldownPeriod], [5, 60]);
  const mock = named(objects, "ScaledObject", "nexus-mock").spec.triggers[0].metadata.query;
  assert.equal(mock, 'sum(vllm:num_requests_waiting{namespace="nexus",service="nexus-mock"})', "the mock speaks vLLM");
  assert.deepEqual(ofKind(objects, "HorizontalPodAutoscaler").map((h) => h.metadata.name), ["nexus-gateway"]);
  for (const name of ["nexus-vllm", "nexus-sglang", "nexus-mock"]) {
    assert.equal(named(objects, "Deployment", name).spec.replicas, undefined, `${name}: KEDA owns the replicas`);
  }
  // The default query's labels are the ones the chart's ServiceMonitor gives the worker's series.
  const service = named(objects, "Service", "nexus-vllm");
  assert.equal(service.metadata.labels["nexus.io/metrics"], "true");
});

Deno.test("an InferencePool selects exactly the worker's pods on its port, with the endpoint picker when named", async () => {
  const { objects } = await rendered({
    values: {
      workers: {
        vllm: {
          backend: "vllm",
          model: "m",
          inferencePool: { enabled: true, endpointPicker: { name: "vllm-epp", port: 9100, failureMode: "FailOpen" } },
        },
        mock: { inferencePool: { enabled: true } },
      },
    },
  });
  const pool = named(objects, "InferencePool", "nexus-vllm");
  assert.equal(pool.apiVersion, "inference.networking.k8s.io/v1");
  const deployment = named(objects, "Deployment", "nexus-vllm");
  assert.deepEqual(pool.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
  const podLabels = deployment.spec.template.metadata.labels;
  for (const [key, value] of Object.entries(pool.spec.selector.matchLabels)) assert.equal(podLabels[key], value);
  assert.deepEqual(pool.spec.targetPorts, [{ number: podSpec(deployment)!.containers[0].ports[0].containerPort }]);
  assert.deepEqual(pool.spec.endpointPickerRef, { name: "vllm-epp", port: { number: 9100 }, failureMode: "FailOpen" });
  const mock = named(objects, "InferencePool", "nexus-mock");
  assert.deepEqual(mock.spec.targetPorts, [{ number: 8001 }]);
  assert.equal(mock.spec.endpointPickerRef, undefined);
});

Deno.test("gateway.service.type LoadBalancer or NodePort makes the gateway Service itself the external entry", async () => {
  const [lb, nodePort, clusterIP] = await Promise.all([
    rendered({
      values: {
        gateway: {
          service: {
            type: "LoadBalancer",
            port: 443,
            annotations: { "metallb.io/address-pool": "public" },
            loadBalancerClass: "service.k8s.aws/nlb",
            loadBalancerIP: "203.0.113.7",
            loadBalancerSourceRanges: ["10.0.0.0/8"],
            externalTrafficPolicy: "Local",
          },
        },
      },
    }),
    rendered({ values: { gateway: { service: { type: "NodePort", nodePort: 30080 } } } }),
    rendered({ values: { gateway: { service: { loadBalancerIP: "203.0.113.7", nodePort: 30080 } } } }),
  ]);
  const service = (objects: Manifest[]) => named(objects, "Service", "nexus-gateway");
  const lbService = service(lb.objects);
  assert.equal(lbService.spec.type, "LoadBalancer");
  assert.equal(lbService.metadata.annotations["metallb.io/address-pool"], "public");
  assert.equal(lbService.spec.loadBalancerClass, "service.k8s.aws/nlb");
  assert.equal(lbService.spec.loadBalancerIP, "203.0.113.7");
  assert.deepEqual(lbService.spec.loadBalancerSourceRanges, ["10.0.0.0/8"]);
  assert.equal(lbService.spec.externalTrafficPolicy, "Local");
  assert.deepEqual(lbService.spec.ports, [{ name: "http", port: 443, targetPort: "http", protocol: "TCP" }]);
  assert.equal(ofKind(lb.objects, "Service").filter((s) => s.spec.type === "LoadBalancer").length, 1, "one Service");
  const np = service(nodePort.objects);
  assert.deepEqual([np.spec.type, np.spec.ports[0].nodePort, np.spec.externalTrafficPolicy], [
    "NodePort",
    30080,
    "Cluster",
  ]);
  const plain = service(clusterIP.objects).spec;
  assert.deepEqual(
    [plain.type, plain.loadBalancerIP, plain.ports[0].nodePort, plain.externalTrafficPolicy],
    ["ClusterIP", undefined, undefined, undefined],
    "a ClusterIP Service carries no load-balancer or node-port fields",
  );
});

Deno.test("a LoadBalancer or NodePort gateway Service leaves the metrics port to an in-cluster Service of its own", async () => {
  for (const type of ["LoadBalancer", "NodePort"]) {
    const { objects } = await rendered({
      values: { gateway: { service: { type } }, serviceMonitor: { enabled: true } },
    });
    const external = named(objects, "Service", "nexus-gateway");
    assert.deepEqual(external.spec.ports.map((p: Manifest) => p.name), ["http"], `${type}: only the API goes out`);
    const metrics = named(objects, "Service", "nexus-gateway-metrics");
    assert.equal(metrics.spec.type, "ClusterIP");
    assert.deepEqual(metrics.spec.selector, external.spec.selector);
    assert.deepEqual(metrics.spec.ports, [{ name: "metrics", port: 9464, targetPort: "metrics", protocol: "TCP" }]);
    const monitor = ofKind(objects, "ServiceMonitor")[0];
    assert.ok(
      Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => metrics.metadata.labels[k] === v),
      "the ServiceMonitor selects it",
    );
    assert.ok(monitor.spec.endpoints.some((e: Manifest) => e.port === "metrics"));
  }
  const { objects } = await rendered({});
  assert.equal(ofKind(objects, "Service").filter((s) => s.metadata.name === "nexus-gateway-metrics").length, 0);
});
