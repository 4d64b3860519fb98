/**
 * The environment the chart gives the gateway and the mock worker is the one they read: every variable it renders is
 * one their config parsers (gateway/config.ts, worker/config.ts) read, and each rendered environment parses into the
 * upstreams, policies, port and model the chart meant. A chart/gateway drift fails here, not in a cluster.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../gateway/config.ts";
import { parseConfig, variables as workerVariables } from "../worker/config.ts";
import { everyFileCase, type Manifest, named, ofKind, podSpec, type RenderCase, rendered } from "./support/chart.ts";

/** Variables Kubernetes or the images set for their own use, not the gateway's or worker's settings. */
const PLATFORM_VARIABLES = new Set(["HOME", "HF_HOME", "MODEL_ID"]);

const cases: RenderCase[] = [
  ...everyFileCase,
  {
    values: {
      gateway: {
        otel: { enabled: true, endpoint: "http://otel:4318", samplingRatio: 0.25, resourceAttributes: { team: "ml" } },
      },
    },
  },
  {
    values: {
      workers: { mock: {}, vllm: { backend: "vllm", model: "m" }, llama: { backend: "kserve", model: "x/y" } },
      gateway: {
        apiKeys: ["team-a-key-1", "team-b-key-2"],
        externalUpstreams: { bento: "http://bento.ml.svc:3000" },
        routePolicies: {
          m: { strategy: "weighted", weights: { vllm: 3, bento: 1 } },
          n: { strategy: "fallback", upstreams: ["llama", "mock"] },
          o: { strategy: "canary", primary: "mock", canary: "vllm", percent: 2.5 },
        },
        rateLimit: { rpm: 30, tpm: 40000, tokensPerDay: 2000000, failMode: "closed" },
        env: { GATEWAY_LOG_LEVEL: "debug", GATEWAY_EJECT_SECONDS: "10" },
      },
      redis: { mode: "external", external: { url: "rediss://:pw@redis.example:6380" } },
    },
  },
];

/** Decoded data of the Secrets the release renders, by name. */
function secretData(objects: Manifest[]): Map<string, Record<string, string>> {
  return new Map(
    ofKind(objects, "Secret").map((s) => [
      s.metadata.name,
      Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, atob(v as string)])),
    ]),
  );
}

/**
 * The environment a container starts with: envFrom ConfigMaps, then env in order, with `$(VAR)` expanded as the
 * kubelet does and Secret references resolved (a Secret the release does not render stands for a user's own).
 */
function containerEnv(objects: Manifest[], container: Manifest): Record<string, string> {
  const env: Record<string, string> = {};
  const secrets = secretData(objects);
  for (const source of container.envFrom ?? []) {
    Object.assign(env, named(objects, "ConfigMap", source.configMapRef?.name).data);
  }
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) {
      env[entry.name] = String(entry.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => env[v] ?? m);
      continue;
    }
    const ref = entry.valueFrom?.secretKeyRef;
    assert.ok(ref, `${entry.name}: a value or a secretKeyRef`);
    const own = secrets.get(ref.name);
    if (own) {
      assert.ok(ref.key in own || ref.optional, `${entry.name}: key ${ref.key} in Secret ${ref.name}`);
      if (ref.key in own) env[entry.name] = own[ref.key];
    } else {
      env[entry.name] = entry.name === "REDIS_URL" ? "redis://user-secret.example:6379" : "key-from-user-secret";
    }
  }
  return env;
}

/** Runs `parse` on `env` and returns the names it read. */
function namesRead<T>(env: Record<string, string>, parse: (env: Record<string, string | undefined>) => T) {
  const read = new Set<string>();
  const recording = new Proxy(env, {
    get: (target, name) => {
      if (typeof name === "string") read.add(name);
      return target[name as string];
    },
  });
  return { result: parse(recording), read };
}

/** The first container of a Deployment. */
function deployment(objects: Manifest[], name: string): Manifest {
  return podSpec(named(objects, "Deployment", name))!.containers[0];
}

Deno.test("every rendering's gateway environment parses with gateway/config.ts, and it reads every variable", async () => {
  const all = await Promise.all(cases.map(rendered));
  for (const [i, { objects }] of all.entries()) {
    const where = JSON.stringify(cases[i]);
    const container = deployment(objects, "nexus-gateway");
    const env = containerEnv(objects, container);
    const { result: config, read } = namesRead(env, loadConfig);
    for (const name of Object.keys(env)) assert.ok(read.has(name), `${where}: the gateway never reads ${name}`);
    const upstreams = Object.fromEntries(env.GATEWAY_UPSTREAMS.split(";").map((pair) => pair.split("=")));
    assert.deepEqual(
      Object.fromEntries([...config.upstreams].map(([name, u]) => [name, u.baseUrl])),
      upstreams,
      `${where}: upstreams`,
    );
    assert.deepEqual(Object.fromEntries(config.policies), JSON.parse(env.GATEWAY_ROUTE_POLICIES), `${where}: policies`);
    assert.equal(config.port, container.ports.find((p: Manifest) => p.name === "http").containerPort, where);
    assert.equal(config.metricsPort, container.ports.find((p: Manifest) => p.name === "metrics").containerPort, where);
    const pod = podSpec(named(objects, "Deployment", "nexus-gateway"))!;
    assert.equal(
      pod.terminationGracePeriodSeconds,
      config.drainDelaySeconds + config.drainGraceSeconds + 5,
      `${where}: the pod's grace period covers the drain delay and grace`,
    );
    assert.ok(config.authEnabled && config.apiKeys.length > 0, `${where}: the gateway has keys`);
    assert.ok(config.defaultUpstream && config.upstreams.has(config.defaultUpstream), `${where}: default upstream`);
  }
  const focused =
    namesRead(containerEnv(all.at(-1)!.objects, deployment(all.at(-1)!.objects, "nexus-gateway")), loadConfig)
      .result;
  assert.deepEqual(focused.apiKeys.map((k) => k.key), ["team-a-key-1", "team-b-key-2"]);
  assert.equal(focused.rateLimitRpm, 30);
  assert.deepEqual(focused.apiKeys.map((k) => [k.tpm, k.tokensPerDay]), [[40000, 2000000], [40000, 2000000]]);
  assert.equal(focused.rateLimitFail, "closed");
  assert.equal(focused.redisUrl, "rediss://:pw@redis.example:6380");
  assert.equal(focused.logLevel, "debug");
  assert.equal(focused.ejectSeconds, 10);
});

Deno.test("the mock worker's environment parses with worker/config.ts: its model, on the port the pod exposes", async () => {
  const known = new Set(workerVariables.map((v) => v.name));
  const all = await Promise.all(cases.map(rendered));
  let workers = 0;
  for (const [i, { objects }] of all.entries()) {
    for (const d of ofKind(objects, "Deployment").filter((d) => d.metadata.labels["nexus.io/backend"] === "mock")) {
      const where = `${JSON.stringify(cases[i])} ${d.metadata.name}`;
      const container = podSpec(d)!.containers[0];
      const env = containerEnv(objects, container);
      for (const name of Object.keys(env)) {
        assert.ok(known.has(name) || PLATFORM_VARIABLES.has(name), `${where}: the worker never reads ${name}`);
      }
      const config = parseConfig(env);
      assert.equal(config.model, env.MODEL_ID, `${where}: WORKER_MODEL expands to the worker's model`);
      assert.equal(config.port, container.ports.find((p: Manifest) => p.name === "http").containerPort, where);
      assert.equal(config.host, "0.0.0.0", `${where}: listens beyond localhost`);
      assert.ok(config.drainDelayMs > 0, `${where}: the worker keeps serving while it leaves its Service`);
      assert.equal(
        podSpec(d)!.terminationGracePeriodSeconds * 1000,
        config.drainDelayMs + config.shutdownGraceMs + 5000,
        `${where}: the pod's grace period covers the drain delay and grace`,
      );
      workers++;
    }
  }
  assert.ok(workers >= 3, "mock workers were checked");
});
