/** Secure defaults over every rendering: pod and container security, no Service links, NetworkPolicies. */
import assert from "node:assert/strict";
import {
  containers,
  everyFileCase,
  type Manifest,
  named,
  ofKind,
  podSpec,
  rendered,
  workloads,
} from "./support/chart.ts";

Deno.test("every container runs non-root, read-only, without capabilities, with requests and probes", async () => {
  const all = await Promise.all(everyFileCase.map(rendered));
  for (const r of all) {
    for (const { obj, spec } of workloads(r.objects)) {
      const where = `${obj.kind}/${obj.metadata.name}`;
      assert.equal(spec.securityContext?.runAsNonRoot, true, `${where} runAsNonRoot`);
      assert.equal(spec.securityContext?.seccompProfile?.type, "RuntimeDefault", `${where} seccomp`);
      for (const c of containers(spec)) {
        assert.deepEqual(c.securityContext?.capabilities?.drop, ["ALL"], `${where} drops ALL`);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where} no escalation`);
        assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${where} has requests`);
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where} read-only root`);
        if (obj.kind === "Deployment") assert.ok(c.livenessProbe && c.readinessProbe, `${where} has probes`);
      }
    }
  }
});

Deno.test("model servers running as a non-root uid get USER, so torch's getpass.getuser() does not fail", async () => {
  const all = await Promise.all(everyFileCase.map(rendered));
  let servers = 0;
  for (const r of all) {
    for (const { obj, spec } of workloads(r.objects)) {
      if (!["vllm", "sglang", "kserve"].includes(obj.metadata.labels["nexus.io/backend"])) continue;
      const env = containers(spec)[0].env.map((e: Manifest) => e.name);
      assert.ok(env.includes("USER"), `${obj.kind}/${obj.metadata.name} sets USER`);
      assert.ok(spec.securityContext.runAsUser > 0, `${obj.kind}/${obj.metadata.name} runs as a non-root uid`);
      servers++;
    }
  }
  assert.ok(servers >= 6);
});

Deno.test("no pod gets Service link variables, so a Service named worker cannot set WORKER_PORT=tcp://...", async () => {
  const all = await Promise.all(everyFileCase.map(rendered));
  let pods = 0;
  for (const r of all) {
    for (const { obj, spec } of workloads(r.objects)) {
      assert.equal(spec.enableServiceLinks, false, `${obj.kind}/${obj.metadata.name} enableServiceLinks`);
      pods++;
    }
  }
  assert.ok(pods >= 20, "gateway, Redis, worker, InferenceService and test pods were checked");
});

Deno.test("networkPolicy lets only the gateway reach workers and Redis, and anyone only the gateway's API port", async () => {
  const { objects } = await rendered({ values: { networkPolicy: { enabled: true } } });
  const [workers, redis, gateway] = ["nexus-workers", "nexus-redis", "nexus-gateway"].map((name) =>
    named(objects, "NetworkPolicy", name)
  );
  for (const p of [workers, redis]) {
    assert.deepEqual(p.spec.ingress[0].from[0].podSelector.matchLabels, {
      "app.kubernetes.io/instance": "nexus",
      "nexus.io/role": "gateway",
    });
  }
  assert.equal(ofKind(objects, "NetworkPolicy").length, 3);
  assert.deepEqual(gateway.spec.ingress, [{ ports: [{ port: "http", protocol: "TCP" }] }], "no one reaches metrics");
  const gatewayPods = named(objects, "Deployment", "nexus-gateway");
  assert.equal(gatewayPods.spec.template.metadata.labels["nexus.io/role"], "gateway");
  for (const [key, value] of Object.entries(gateway.spec.podSelector.matchLabels)) {
    assert.equal(gatewayPods.spec.template.metadata.labels[key], value, "the gateway policy selects the gateway pods");
  }
  const workerPods = named(objects, "Deployment", "nexus-mock");
  assert.equal(workerPods.spec.template.metadata.labels["nexus.io/role"], "worker");
});

Deno.test("networkPolicy.metricsFrom lets Prometheus into the workers' http port and the gateway's metrics port only", async () => {
  const prometheus = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } };
  const { objects } = await rendered({ values: { networkPolicy: { enabled: true, metricsFrom: [prometheus] } } });
  const [workers, redis, gateway] = ["nexus-workers", "nexus-redis", "nexus-gateway"].map((name) =>
    named(objects, "NetworkPolicy", name)
  );
  assert.deepEqual(workers.spec.ingress[1], { from: [prometheus], ports: [{ port: "http", protocol: "TCP" }] });
  assert.deepEqual(gateway.spec.ingress[1], { from: [prometheus], ports: [{ port: "metrics", protocol: "TCP" }] });
  assert.equal(redis.spec.ingress.length, 1, "Redis stays gateway-only");
  const mock = podSpec(named(objects, "Deployment", "nexus-mock"))!;
  assert.ok(mock.containers[0].ports.some((p: Manifest) => p.name === "http"), "the workers' port is named http");
});
