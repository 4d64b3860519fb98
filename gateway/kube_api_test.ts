import assert from "node:assert/strict";
import { KubeApi } from "./kube_api.ts";

function serviceAccountDir(files: Record<string, string>): string {
  const dir = Deno.makeTempDirSync({ prefix: "nexus-sa-" });
  for (const [name, text] of Object.entries(files)) Deno.writeTextFileSync(`${dir}/${name}`, text);
  return dir;
}

/** A real self-signed CA certificate in PEM (openssl). */
async function caPem(dir: string): Promise<string> {
  const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  args.push("-subj", "/CN=test-ca", "-days", "1", "-keyout", `${dir}/ca.key`, "-out", `${dir}/ca.crt`);
  const { success, stderr } = await new Deno.Command("openssl", { args, stderr: "piped" }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  return Deno.readTextFileSync(`${dir}/ca.crt`);
}

const ENV = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };

Deno.test("in a pod the API server, namespace and token come from the environment and the ServiceAccount files", async () => {
  const dir = serviceAccountDir({ token: "tok-1\n", namespace: "team-a\n" });
  await caPem(dir);
  const seen: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (request) => {
    seen.push(request.headers.get("authorization")!);
    return Response.json({});
  });
  try {
    const api = KubeApi.inCluster(ENV, dir);
    assert.equal(api.server, "https://10.96.0.1:443");
    assert.equal(api.namespace, "team-a");
    assert.equal(
      KubeApi.inCluster({ ...ENV, KUBERNETES_SERVICE_HOST: "fd00::1" }, dir).server,
      "https://[fd00::1]:443",
    );
    api.close();
    // The token is read before each request: a rotated token is used at once.
    const local = new KubeApi({
      server: `http://127.0.0.1:${server.addr.port}/`,
      token: () => Deno.readTextFileSync(`${dir}/token`).trim(),
      namespace: "x",
    });
    await (await local.get("/api", AbortSignal.timeout(5_000))).body?.cancel();
    Deno.writeTextFileSync(`${dir}/token`, "tok-2");
    await (await local.get("/api", AbortSignal.timeout(5_000))).body?.cancel();
    assert.deepEqual(seen, ["Bearer tok-1", "Bearer tok-2"]);
  } finally {
    await server.shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("outside a pod, or without the ServiceAccount files, inCluster says what is missing", () => {
  const dir = serviceAccountDir({ token: "t", namespace: "n" });
  try {
    assert.throws(() => KubeApi.inCluster({}, dir), /KUBERNETES_SERVICE_HOST/);
    assert.throws(() => KubeApi.inCluster(ENV, dir), new RegExp(`ca\\.crt in ${dir}`));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
