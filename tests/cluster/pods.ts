/**
 * End-to-end tests of installed releases on the real node, run by scripts/cluster/test.sh after ct and placement.ts
 * (KUBECONFIG set by it). Not a *_test.ts file on purpose: `deno task test` must not need a cluster.
 *
 * The gateway, the mock worker and Redis run from the local images with the chart's security context; requests go
 * from this host to the Services' ClusterIPs (kube-proxy on this host), to pod IPs on the node's bridge, through
 * `kubectl port-forward`, or from the helm test pod through cluster DNS. Nothing leaves this machine.
 */
import assert from "node:assert/strict";
import { chartDir, type Manifest, run } from "../support/chart.ts";
import { componentPods, dropNamespace, getJson, install, must, serviceUrl, waitFor } from "../support/kube.ts";
import { assertOpenAI } from "../support/openai_schema.ts";
import { tool } from "../support/paths.ts";
import { freePort, spawn } from "../support/process.ts";
import { metricValue } from "../support/prometheus.ts";

const noLeaks = { sanitizeOps: false, sanitizeResources: false };
const hello = [{ role: "user", content: "hello" }];

/** Writes values to a temp file for `helm install --values`. */
async function valuesFile(values: unknown): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(file, JSON.stringify(values));
  return file;
}

/** Installs mock-clusterip (local images) as release in namespace release with extra values, and waits for it. */
async function installMock(release: string, values: unknown): Promise<void> {
  await install(release, "mock-clusterip", ["--values", await valuesFile(values), "--wait", "--timeout", "300s"]);
}

/** The first API key in the release's generated Secret, read as the README tells users to. */
async function generatedKey(release: string): Promise<string> {
  const secret = await getJson(["secret", "-n", release, `${release}-gateway`]);
  return atob(secret.data.GATEWAY_API_KEYS).split(",")[0];
}

/** Pods of a component that are not being deleted. */
async function livePods(namespace: string, component: string): Promise<Manifest[]> {
  return (await componentPods(namespace, component)).filter((p) => !p.metadata.deletionTimestamp);
}

/**
 * `helm upgrade --reuse-values --set <value> --wait` of a release whose gateway config it changes, then waits until the
 * gateway pods from before it are gone (rolled).
 */
async function upgradeGateway(release: string, value: string): Promise<void> {
  const old = new Set((await componentPods(release, "gateway")).map((p) => p.metadata.name));
  await must("helm", [
    "upgrade",
    release,
    chartDir,
    "-n",
    release,
    "--reuse-values",
    "--set",
    value,
    "--wait",
    "--timeout",
    "300s",
  ]);
  await waitFor("the old gateway pods to be gone", async () => {
    const all = await componentPods(release, "gateway");
    return all.some((p) => old.has(p.metadata.name)) ? undefined : true;
  });
}

/** POSTs one chat completion (of `messages`, default "hello") and returns the status (the body is dropped). */
async function chat(
  url: string,
  key: string,
  init: { client?: Deno.HttpClient; messages?: Array<{ role: string; content: string }> } = {},
): Promise<number> {
  const messages = init.messages ?? hello;
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-worker", messages, max_tokens: 1 }),
    signal: AbortSignal.timeout(30_000),
    client: init.client,
  });
  await response.body?.cancel();
  return response.status;
}

Deno.test({
  name: "a mock release on the real node: smoke test, streaming, helm test, and a config upgrade under load",
  ...noLeaks,
  fn: async (t) => {
    const release = "nexus-smoke";
    try {
      await installMock(release, {
        gateway: { rateLimit: { rpm: 1_000_000 } },
        // Slow tokens, so a stream is still being generated when its first token arrives.
        workers: { mock: { env: { WORKER_TOKEN_DELAY_MS: "200" } } },
      });
      const gateway = await serviceUrl(release, `${release}-gateway`, 2);
      const key = await generatedKey(release);

      await t.step("the generated API key reaches the gateway from its Secret; a wrong key gets 401", async () => {
        const models = await fetch(`${gateway}/v1/models`, { headers: { "x-api-key": key } });
        assert.equal(models.status, 200);
        const list = await models.json();
        assertOpenAI("ListModelsResponse", list);
        assert.ok(list.data.some((m: { id: string }) => m.id === "mock-worker"), JSON.stringify(list));
        const wrong = await fetch(`${gateway}/v1/models`, { headers: { "x-api-key": `${key}-wrong` } });
        assert.equal(wrong.status, 401);
        assertOpenAI("ErrorResponse", await wrong.json());
      });

      await t.step(
        // The seed's smoke test, with the release's generated key for dev-key (the chart refuses a key that short).
        "the seed's smoke test answers through kubectl port-forward svc/<release>-gateway <port>:80",
        async () => {
          const port = freePort();
          await using forward = spawn(tool("kubectl"), {
            args: ["-n", release, "port-forward", `svc/${release}-gateway`, `${port}:80`],
          });
          await forward.waitForLine(/^Forwarding from 127\.0\.0\.1/);
          const curl = async (args: string[]) => {
            const out = await new Deno.Command("curl", { args: ["-sS", "--fail-with-body", ...args] }).output();
            const text = new TextDecoder().decode(out.stdout);
            assert.equal(out.code, 0, `curl ${args.join(" ")}: ${text}${new TextDecoder().decode(out.stderr)}`);
            return text;
          };
          assert.deepEqual(JSON.parse(await curl([`http://localhost:${port}/health`])), { status: "ok" });
          const body = JSON.parse(
            await curl([
              "-X",
              "POST",
              `http://localhost:${port}/v1/chat/completions`,
              "-H",
              `X-API-Key: ${key}`,
              "-H",
              "Content-Type: application/json",
              "-d",
              '{"model":"mock-worker","messages":[{"role":"user","content":"hello"}]}',
            ]),
          );
          assertOpenAI("CreateChatCompletionResponse", body);
          assert.equal(body.model, "mock-worker");
          assert.ok(body.choices[0].message.content.length > 0);
        },
      );

      await t.step("a streamed completion through the gateway Service arrives token by token", async () => {
        const worker = await serviceUrl(release, `${release}-mock`);
        const response = await fetch(`${gateway}/v1/chat/completions`, {
          method: "POST",
          headers: { "x-api-key": key, "content-type": "application/json" },
          body: JSON.stringify({ model: "mock-worker", messages: hello, stream: true }),
        });
        assert.equal(response.status, 200);
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        let received = "";
        while (!received.includes('"content":"')) received += (await reader.read()).value ?? "";
        // The first token is here, and the worker pod is still generating the rest.
        const metrics = await (await fetch(`${worker}/metrics`)).text();
        assert.equal(metricValue(metrics, "vllm:num_requests_running"), 1);
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) received += chunk.value;
        const events = received.split("\n\n").filter(Boolean);
        assert.equal(events.at(-1), "data: [DONE]");
        const tokens = events.slice(0, -1).map((e) => JSON.parse(e.slice("data: ".length)))
          .filter((chunk) => chunk.choices[0]?.delta?.content);
        assert.ok(tokens.length > 1, `${tokens.length} token chunk(s)`);
        for (const chunk of tokens) assertOpenAI("CreateChatCompletionStreamResponse", chunk);
      });

      await t.step("helm test sends a real chat completion from a pod, through the Service's DNS name", async () => {
        const result = await run("helm", ["test", release, "-n", release, "--logs", "--timeout", "180s"]);
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.match(result.stdout, /"object":"chat\.completion"/);
      });

      await t.step("helm test fails while the gateway has no pods", async () => {
        await must("kubectl", ["-n", release, "scale", `deployment/${release}-gateway`, "--replicas", "0"]);
        try {
          await waitFor(
            "the gateway pods to be gone",
            async () => (await componentPods(release, "gateway")).length === 0 ? true : undefined,
          );
          const result = await run("helm", ["test", release, "-n", release, "--timeout", "180s"]);
          assert.notEqual(result.code, 0, `helm test passed without a gateway:\n${result.stdout}`);
          assert.match(result.stderr, /failed/);
        } finally {
          await must("kubectl", ["-n", release, "scale", `deployment/${release}-gateway`, "--replicas", "2"]);
          await must("kubectl", [
            "-n",
            release,
            "rollout",
            "status",
            `deployment/${release}-gateway`,
            "--timeout",
            "180s",
          ]);
          await serviceUrl(release, `${release}-gateway`, 2);
        }
      });

      await t.step(
        "a helm upgrade of the gateway's config rolls its pods while 20 requests/s all succeed",
        async () => {
          const before = await livePods(release, "gateway");
          assert.equal(before.length, 2);
          const load = startLoad(gateway, { key, perSecond: 20 });
          await new Promise((resolve) => setTimeout(resolve, 5_000));
          await upgradeGateway(release, "gateway.rateLimit.rpm=999999");
          // At least 30 s of load, and some after the last old pod went.
          await new Promise((resolve) => setTimeout(resolve, Math.max(5_000, 30_000 - load.elapsedMs())));
          const { ok, failures } = await load.stop();
          const after = await livePods(release, "gateway");
          assert.equal(after.length, 2);
          const checksum = (p: Manifest) => p.metadata.annotations["checksum/config"];
          assert.notEqual(checksum(after[0]), checksum(before[0]), "the config checksum changed");
          assert.deepEqual(failures, [], `${failures.length} of ${ok + failures.length} requests failed`);
          assert.ok(ok > 0);
        },
      );
    } finally {
      await dropNamespace(release);
    }
  },
});

interface Load {
  /** Milliseconds since the load started. */
  elapsedMs(): number;
  /** Stops sending, waits for the requests in flight, and reports. */
  stop(): Promise<{ ok: number; failures: string[] }>;
}

/**
 * Sends perSecond chat completions a second (open loop: on schedule, whatever the answers), each on a new
 * connection, so every request goes through kube-proxy's choice of pod as a fresh client's would.
 */
function startLoad(url: string, options: { key: string; perSecond: number }): Load {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const started = Date.now();
  const inFlight: Promise<void>[] = [];
  let ok = 0;
  const failures: string[] = [];
  const send = () => {
    const at = Date.now() - started;
    inFlight.push(
      chat(url, options.key, { client }).then(
        (status) => status === 200 ? void ok++ : void failures.push(`${at} ms: HTTP ${status}`),
        (error) => void failures.push(`${at} ms: ${error}${error?.cause ? ` (${error.cause})` : ""}`),
      ),
    );
  };
  const timer = setInterval(send, 1000 / options.perSecond);
  return {
    elapsedMs: () => Date.now() - started,
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      client.close();
      return { ok, failures };
    },
  };
}

Deno.test({
  name: "a release with a generated key and a budget of 2 requests a minute on the real node",
  ...noLeaks,
  fn: async (t) => {
    const release = "nexus-limits";
    const rpm = 2;
    try {
      await installMock(release, { gateway: { rateLimit: { rpm } } });
      const gateway = await serviceUrl(release, `${release}-gateway`, 2);
      const key = await generatedKey(release);

      await t.step(
        "two gateway replicas share one budget in the in-cluster Redis: after it, both answer 429",
        async () => {
          const pods = await livePods(release, "gateway");
          assert.equal(pods.length, 2);
          const [a, b] = pods.map((p) => `http://${p.status.podIP}:8000`);
          // One request to each pod spends the budget of 2; each pod alone has seen only one.
          assert.deepEqual([await chat(a, key), await chat(b, key)], [200, 200]);
          assert.deepEqual([await chat(a, key), await chat(b, key)], [429, 429]);
        },
      );

      await t.step(
        "without the Redis pod the gateway keeps serving (fail-open); with the new one the limit is back",
        async () => {
          assert.equal(await chat(gateway, key), 429, "the budget is spent");
          const [old] = await livePods(release, "redis");
          await must("kubectl", ["-n", release, "delete", "pod", old.metadata.name, "--wait=false"]);
          // Expected: 429 while the old pod lingers, then 200s (fail-open while no Redis answers, then the new Redis's
          // fresh budget of 2), then 429 again. More 200s in that run than the budget allows prove fail-open.
          const statuses: number[] = [];
          const deadline = Date.now() + 180_000;
          while (!(statuses.includes(200) && statuses.at(-1) === 429) && Date.now() < deadline) {
            statuses.push(await chat(gateway, key));
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          const trace = `statuses: ${statuses.join(" ")}`;
          assert.deepEqual(statuses.filter((s) => s !== 200 && s !== 429), [], trace);
          assert.equal(statuses.at(-1), 429, `the limit never came back; ${trace}`);
          const served = statuses.slice(statuses.indexOf(200), -1);
          assert.ok(served.every((s) => s === 200) && served.length > rpm, trace);
          const [redis] = await livePods(release, "redis");
          assert.notEqual(redis.metadata.name, old.metadata.name);
          assert.equal(redis.status.conditions.find((c: { type: string }) => c.type === "Ready").status, "True");
        },
      );
    } finally {
      await dropNamespace(release);
    }
  },
});

/** What a gateway pod routes the mock upstream with, from /debug/endpoints on its metrics port. */
interface MockUpstreamState {
  pickers: string[];
  endpoints: Array<{ url: string; load?: { running: number } }>;
}

async function mockUpstreamState(gatewayPod: Manifest): Promise<MockUpstreamState> {
  const response = await fetch(`http://${gatewayPod.status.podIP}:9464/debug/endpoints`);
  return (await response.json()).upstreams.mock ?? { pickers: [], endpoints: [] };
}

/** Waits until every gateway pod routes the mock upstream to exactly the ready mock pods; returns their URLs. */
async function waitForPodRouting(release: string, pods: number): Promise<string[]> {
  return await waitFor(`every gateway pod to route to the ${pods} ready mock pods`, async () => {
    const mocks = (await livePods(release, "worker-mock")).filter((p) =>
      p.status.conditions?.some((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True")
    );
    if (mocks.length !== pods) return undefined;
    const expected = mocks.map((p) => `http://${p.status.podIP}:${p.spec.containers[0].ports[0].containerPort}`).sort();
    for (const gateway of await livePods(release, "gateway")) {
      const urls = (await mockUpstreamState(gateway)).endpoints.map((e) => e.url).sort();
      if (JSON.stringify(urls) !== JSON.stringify(expected)) return undefined;
    }
    return expected;
  });
}

/** Requests each mock pod finished (vllm:request_success_total), by pod URL. */
async function servedByPod(podUrls: string[]): Promise<Map<string, number>> {
  const served = new Map<string, number>();
  for (const url of podUrls) {
    served.set(url, metricValue(await (await fetch(`${url}/metrics`)).text(), "vllm:request_success_total"));
  }
  return served;
}

/** Sends `count` chat completions through the gateway Service, one at a time, each with its own prompt. */
async function chats(gateway: string, key: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    statuses.push(await chat(gateway, key, { messages: [{ role: "user", content: `question ${i}` }] }));
  }
  return statuses;
}

Deno.test({
  name: "a mock worker of several pods on the real node: the gateway pods discover them and pick per request",
  ...noLeaks,
  fn: async (t) => {
    const release = "nexus-routing";
    try {
      // Discovery is on by default for a Deployment worker of more than one replica; least_request is the default
      // picker. The mock's HPA is off (this cluster has no metrics server): kubectl scales it, as an HPA would.
      await installMock(release, {
        gateway: { rateLimit: { rpm: 1_000_000 } },
        workers: { mock: { replicas: 3, autoscaling: { enabled: false } } },
      });
      const gateway = await serviceUrl(release, `${release}-gateway`, 2);
      const key = await generatedKey(release);

      await t.step(
        "each gateway pod, with the chart's ServiceAccount and Role, routes to the three mock pods, and every pod serves",
        async () => {
          const pods = await waitForPodRouting(release, 3);
          const before = await servedByPod(pods);
          assert.deepEqual(await chats(gateway, key, 60), Array(60).fill(200));
          const after = await servedByPod(pods);
          const served = pods.map((pod) => after.get(pod)! - before.get(pod)!);
          assert.equal(served.reduce((a, b) => a + b), 60, `served per pod: ${served}`);
          assert.ok(served.every((n) => n > 0), `served per pod: ${served}`);
        },
      );

      await t.step(
        "with the prefix picker, each gateway pod scrapes every mock pod's load and keeps a shared prompt on one pod",
        async () => {
          await upgradeGateway(release, "gateway.routing.picker=prefix");
          await serviceUrl(release, `${release}-gateway`, 2);
          const pods = await waitForPodRouting(release, 3);
          for (const gatewayPod of await livePods(release, "gateway")) {
            await waitFor(`${gatewayPod.metadata.name} to have scraped every mock pod`, async () => {
              const { pickers, endpoints } = await mockUpstreamState(gatewayPod);
              return pickers.includes("prefix") && endpoints.every((e) => e.load !== undefined) ? true : undefined;
            });
          }
          // One long system prompt (a tenant's instructions) with a different question each time: a gateway pod sends
          // them all to the pod that served the first, so at most one pod per gateway pod serves them.
          const system = "You are the support assistant of one tenant. ".repeat(60);
          const before = await servedByPod(pods);
          for (let i = 0; i < 20; i++) {
            const messages = [{ role: "system", content: system }, { role: "user", content: `question ${i}` }];
            assert.equal(await chat(gateway, key, { messages }), 200);
          }
          const after = await servedByPod(pods);
          const served = pods.map((pod) => after.get(pod)! - before.get(pod)!);
          assert.equal(served.reduce((a, b) => a + b), 20, `served per pod: ${served}`);
          assert.ok(served.filter((n) => n > 0).length <= 2, `served per pod: ${served}`);
        },
      );

      await t.step("scaled to four, the new pod is discovered and serves", async () => {
        const old = await waitForPodRouting(release, 3);
        await must("kubectl", ["-n", release, "scale", `deployment/${release}-mock`, "--replicas", "4"]);
        const pods = await waitForPodRouting(release, 4);
        const [added] = pods.filter((pod) => !old.includes(pod));
        const before = await servedByPod([added]);
        assert.deepEqual(await chats(gateway, key, 60), Array(60).fill(200));
        const after = await servedByPod([added]);
        assert.ok(after.get(added)! - before.get(added)! > 0, `${added} served none of 60 requests`);
      });

      await t.step("scaled down to one while requests keep coming, every request succeeds", async () => {
        const load = startLoad(gateway, { key, perSecond: 10 });
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        await must("kubectl", ["-n", release, "scale", `deployment/${release}-mock`, "--replicas", "1"]);
        await waitForPodRouting(release, 1);
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        const { ok, failures } = await load.stop();
        assert.deepEqual(failures, [], `${failures.length} of ${ok + failures.length} requests failed`);
        assert.ok(ok > 0);
      });
    } finally {
      await dropNamespace(release);
    }
  },
});
