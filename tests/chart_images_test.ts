/**
 * The images and the ops script fit the chart: each Dockerfile runs its entry as the uid and on the port the chart
 * expects, and scripts/images.sh builds, pushes and deploys with the names the chart renders. docker, helm and
 * kubectl are recording stand-ins here (no container engine on CI); the helm values the script sets are then
 * rendered with the real helm.
 */
import assert from "node:assert/strict";
import { type Manifest, named, podSpec, rendered } from "./support/chart.ts";
import { repoRoot } from "./support/paths.ts";

/** The parts of a Dockerfile the chart depends on. */
async function dockerfile(component: string) {
  const text = await Deno.readTextFile(`${repoRoot}/${component}/Dockerfile`);
  const from = text.match(/^FROM denoland\/deno:(\S+)$/m)?.[1];
  const user = text.match(/^USER (\d+):(\d+)$/m);
  const port = text.match(/^EXPOSE (\d+)$/m)?.[1];
  const entry = JSON.parse(text.match(/^ENTRYPOINT (\[.*\])$/m)![1]) as string[];
  return { from, uid: Number(user?.[1]), port: Number(port), entry: entry.at(-1)! };
}

Deno.test("each Dockerfile runs its entry on the chart's port, as the chart's uid, on the pinned Deno", async () => {
  const deno = (await Deno.readTextFile(`${repoRoot}/scripts/install/deno.sh`)).match(/^DENO_VERSION=(\S+)$/m)?.[1];
  const { objects } = await rendered({});
  const pods: Record<string, Manifest> = {
    gateway: podSpec(named(objects, "Deployment", "nexus-gateway"))!,
    worker: podSpec(named(objects, "Deployment", "nexus-mock"))!,
  };
  for (const [component, pod] of Object.entries(pods)) {
    const image = await dockerfile(component);
    assert.equal(image.from, deno, `${component}: the image's Deno is the one the project pins`);
    assert.equal(image.entry, `${component}/main.ts`);
    Deno.statSync(`${repoRoot}/${image.entry}`);
    assert.equal(image.uid, pod.securityContext.runAsUser, `${component}: USER is the pod's runAsUser`);
    assert.equal(image.port, pod.containers[0].ports[0].containerPort, `${component}: EXPOSE is the container port`);
  }
});

/** Runs scripts/images.sh with recording docker/helm/kubectl first on PATH; returns its exit code and their calls. */
async function images(args: string[], env: Record<string, string>) {
  const dir = await Deno.makeTempDir();
  try {
    for (const tool of ["docker", "helm", "kubectl"]) {
      await Deno.writeTextFile(`${dir}/${tool}`, `#!/bin/sh\necho "${tool} $*" >> "${dir}/calls"\n`, { mode: 0o755 });
    }
    const out = await new Deno.Command("bash", {
      args: [`${repoRoot}/scripts/images.sh`, ...args],
      env: { ...env, PATH: `${dir}:${Deno.env.get("PATH")}` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const calls = (await Deno.readTextFile(`${dir}/calls`).catch(() => "")).split("\n").filter(Boolean);
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr), calls };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("scripts/images.sh builds and pushes IMAGE_REPO:IMAGE_TAG and deploys it into the chart's objects", async () => {
  const env = { IMAGE_REPO: "registry.example/nexus-gateway", IMAGE_TAG: "1.2.3" };
  const build = await images(["build", "gateway"], env);
  assert.equal(build.code, 0, build.stderr);
  assert.deepEqual(build.calls, ["docker build -f gateway/Dockerfile -t registry.example/nexus-gateway:1.2.3 ."]);
  assert.deepEqual((await images(["push", "gateway"], env)).calls, [
    "docker push registry.example/nexus-gateway:1.2.3",
  ]);

  const deploy = await images(["deploy", "gateway"], env);
  assert.equal(deploy.code, 0, deploy.stderr);
  const upgrade = deploy.calls[0].match(/^helm upgrade nexus charts\/nexus -n nexus --reuse-values (.*)$/);
  assert.ok(upgrade, deploy.calls[0]);
  const sets = Object.fromEntries([...upgrade[1].matchAll(/--set (\S+)=(\S+)/g)].map((m) => [m[1], m[2]]));
  const { objects } = await rendered({
    values: { gateway: { image: { repository: sets["gateway.image.repository"], tag: sets["gateway.image.tag"] } } },
  });
  const gateway = named(objects, "Deployment", "nexus-gateway");
  assert.equal(podSpec(gateway)!.containers[0].image, "registry.example/nexus-gateway:1.2.3");
  assert.equal(deploy.calls[1], "kubectl -n nexus rollout status deployment/nexus-gateway --timeout=300s");

  const worker = await images(["deploy", "worker"], { ...env, METHOD: "kubectl" });
  assert.equal(worker.code, 0, worker.stderr);
  const setImage = worker.calls[0].match(/^kubectl -n nexus set image deployment\/(\S+) (\S+)=(\S+)$/);
  assert.ok(setImage, worker.calls[0]);
  const mock = named((await rendered({})).objects, "Deployment", setImage[1]);
  assert.deepEqual(podSpec(mock)!.containers.map((c: Manifest) => c.name), [setImage[2]]);
});

Deno.test("scripts/images.sh refuses to run without IMAGE_REPO, naming it", async () => {
  const result = await images(["build", "gateway"], { IMAGE_TAG: "1" });
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /IMAGE_REPO/);
  assert.deepEqual(result.calls, []);
});
