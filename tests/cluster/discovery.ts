/**
 * Kubernetes discovery (gateway/discovery.ts) against the real API server of the local cluster, run by
 * scripts/cluster/test.sh (KUBECONFIG set). Not a *_test.ts file: `deno task test` must not need a cluster.
 *
 * A Deployment of simulated pods on KWOK nodes (KWOK gives them IPs and Ready conditions, the real
 * endpointslice controller builds the Service's EndpointSlices) is scaled 2 -> 3 -> 1, and the endpoint set that
 * discovery keeps, from this host with a ServiceAccount token limited by a Role to reading EndpointSlices, follows.
 */
import assert from "node:assert/strict";
import { parseEndpointUrl } from "../../gateway/config.ts";
import { EndpointSliceDiscovery } from "../../gateway/discovery.ts";
import { EndpointSet } from "../../gateway/endpoint_set.ts";
import { KubeApi } from "../../gateway/kube_api.ts";
import { eventually } from "../support/eventually.ts";
import { tool } from "../support/paths.ts";

const kubectl = tool("kubectl");
const NAMESPACE = `nexus-discovery-${crypto.randomUUID().slice(0, 8)}`;

/** Runs kubectl (stdin optional) and returns its stdout; throws with its stderr when it fails. */
async function kube(args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(kubectl, { args, stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const writer = child.stdin.getWriter();
  if (stdin !== undefined) await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) throw new Error(`kubectl ${args.join(" ")} failed:\n${text(out.stderr)}`);
  return text(out.stdout);
}

/** The API server's URL and CA certificate from the current kubeconfig. */
async function apiServer(): Promise<{ server: string; caCert: string }> {
  const config = JSON.parse(await kube(["config", "view", "--raw", "--minify", "-o", "json"]));
  const cluster = config.clusters[0].cluster;
  const caCert = cluster["certificate-authority-data"]
    ? atob(cluster["certificate-authority-data"])
    : await Deno.readTextFile(cluster["certificate-authority"]);
  return { server: cluster.server, caCert };
}

/** The gateway's ServiceAccount with a Role that may only read EndpointSlices, and the mock worker Service. */
const OBJECTS = `
apiVersion: v1
kind: ServiceAccount
metadata: { name: gateway }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: gateway-endpointslices }
rules:
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: gateway-endpointslices }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: gateway-endpointslices }
subjects: [{ kind: ServiceAccount, name: gateway }]
---
apiVersion: v1
kind: Service
metadata: { name: worker }
spec:
  selector: { app: worker }
  ports: [{ name: http, port: 8000, targetPort: 8001 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: worker }
spec:
  replicas: 2
  selector: { matchLabels: { app: worker } }
  template:
    metadata: { labels: { app: worker } }
    spec:
      nodeSelector: { type: kwok }
      tolerations: [{ key: nvidia.com/gpu, operator: Exists, effect: NoSchedule }]
      containers:
        - name: worker
          image: nexus-worker:simulated
          ports: [{ name: http, containerPort: 8001 }]
`;

/** The IPs of the Deployment's Ready pods, sorted. */
async function readyPodIps(): Promise<string[]> {
  const pods = JSON.parse(await kube(["get", "pods", "-n", NAMESPACE, "-l", "app=worker", "-o", "json"])).items as {
    metadata: { deletionTimestamp?: string };
    status: { podIP?: string; conditions?: { type: string; status: string }[] };
  }[];
  return pods
    .filter((p) => !p.metadata.deletionTimestamp && p.status.podIP)
    .filter((p) => p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
    .map((p) => p.status.podIP!)
    .sort();
}

Deno.test("discovery follows a worker Deployment scaled on KWOK nodes, through the real API server", async () => {
  await kube(["create", "namespace", NAMESPACE]);
  const { server, caCert } = await apiServer();
  await kube(["apply", "-n", NAMESPACE, "-f", "-"], OBJECTS);
  const token = (await kube(["create", "token", "gateway", "-n", NAMESPACE, "--duration", "10m"])).trim();

  const configured = parseEndpointUrl(`http://worker.${NAMESPACE}:8000`, { upstream: "worker", variable: "test" });
  const set = new EndpointSet("worker", [configured], { breaker: { ejectAfterFailures: 5, ejectMs: 30_000 } });
  const api = new KubeApi({ server, token: () => token, caCert, namespace: NAMESPACE });
  const errors: string[] = [];
  const discovery = new EndpointSliceDiscovery({
    api,
    set,
    target: { service: "worker", port: "http" },
    baseUrl: configured.baseUrl,
    onError: (error) => errors.push(error),
  });
  // Compared sorted the same way: the set's order (URLs sorted) is not the pods' (IPs sorted), and does not matter.
  const discovered = () => set.endpoints.map((e) => e.baseUrl).sort();
  const expected = (ips: string[]) => ips.map((ip) => `http://${ip}:8001`).sort();
  /** Waits until the pods are Ready and discovery shows exactly their IPs, on the target port. */
  const follows = (replicas: number) =>
    eventually(async () => {
      const ips = await readyPodIps();
      assert.equal(ips.length, replicas, `ready pods: ${ips}`);
      assert.deepEqual(discovered(), expected(ips));
    }, { timeoutMs: 90_000 });
  try {
    discovery.start();
    await follows(2);
    const kept = set.endpoints[0];
    await kube(["scale", "deployment/worker", "-n", NAMESPACE, "--replicas", "3"]);
    await follows(3);
    assert.ok(set.endpoints.includes(kept), "an endpoint that stays is the same object (its state is kept)");
    await kube(["scale", "deployment/worker", "-n", NAMESPACE, "--replicas", "1"]);
    await follows(1);
    assert.deepEqual(errors, [], "no list or watch failed");
    // The Role allows only EndpointSlices: the same token may not read pods.
    const pods = await api.get(`/api/v1/namespaces/${NAMESPACE}/pods`, AbortSignal.timeout(10_000));
    await pods.body?.cancel();
    assert.equal(pods.status, 403);
  } finally {
    await discovery.stop();
    api.close();
    await kube(["delete", "namespace", NAMESPACE, "--wait=false"]).catch(() => {});
  }
});
