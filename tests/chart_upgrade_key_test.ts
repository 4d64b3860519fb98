/**
 * The generated API key survives upgrades: helm's `lookup` reads the release's Secret from the API server.
 * A minimal Kubernetes API (discovery plus one Secret) on 127.0.0.1 stands in for the cluster, and the real helm
 * renders with --dry-run=server, as `helm upgrade` does.
 */
import assert from "node:assert/strict";
import { chartDir, manifests, ofKind, run } from "./support/chart.ts";

/** Serves discovery and, when given, the Secret nexus/nexus-gateway holding `keys`. */
function fakeApiServer(keys: string | undefined): Deno.HttpServer<Deno.NetAddr> {
  const resources = [{ name: "secrets", singularName: "secret", namespaced: true, kind: "Secret", verbs: ["get"] }];
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/version") return Response.json({ major: "1", minor: "34", gitVersion: "v1.34.0" });
    if (path === "/api") return Response.json({ kind: "APIVersions", versions: ["v1"] });
    if (path === "/apis") return Response.json({ kind: "APIGroupList", apiVersion: "v1", groups: [] });
    if (path === "/api/v1") return Response.json({ kind: "APIResourceList", groupVersion: "v1", resources });
    if (path === "/api/v1/namespaces/nexus/secrets/nexus-gateway" && keys !== undefined) {
      return Response.json({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "nexus-gateway", namespace: "nexus" },
        data: { GATEWAY_API_KEYS: btoa(keys) },
      });
    }
    return Response.json({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 }, {
      status: 404,
    });
  });
}

/** The GATEWAY_API_KEYS helm renders against the fake cluster. */
async function renderedKeys(existing: string | undefined, extra: string[] = []): Promise<string> {
  const server = fakeApiServer(existing);
  const dir = await Deno.makeTempDir();
  try {
    const kubeconfig = `${dir}/kubeconfig`;
    await Deno.writeTextFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "fake", cluster: { server: `http://127.0.0.1:${server.addr.port}` } }],
        users: [{ name: "fake", user: {} }],
        contexts: [{ name: "fake", context: { cluster: "fake", user: "fake" } }],
        "current-context": "fake",
      }),
    );
    const args = ["template", "nexus", chartDir, "-n", "nexus", "--dry-run=server", "--kubeconfig", kubeconfig];
    const out = await run("helm", [...args, "-s", "templates/gateway-secret.yaml", ...extra]);
    assert.equal(out.code, 0, out.stderr);
    const secret = ofKind(manifests(out.stdout), "Secret")[0];
    return atob(secret.data.GATEWAY_API_KEYS);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("an upgrade keeps the key generated at install", async () => {
  assert.equal(await renderedKeys("nx-generated-at-install"), "nx-generated-at-install");
});

Deno.test("a first install (no Secret yet) generates a new random key", async () => {
  assert.match(await renderedKeys(undefined), /^nx-[A-Za-z0-9]{40}$/);
});

Deno.test("keys given in gateway.apiKeys replace a generated one", async () => {
  const keys = await renderedKeys("nx-generated-at-install", ["--set", "gateway.apiKeys={team-a-key-1,team-b-key-2}"]);
  assert.equal(keys, "team-a-key-1,team-b-key-2");
});
