/**
 * The images and the ops script fit the chart: each Dockerfile runs its entry as the uid and on the port the chart
 * expects, and scripts/images.sh builds (from a hermetic staged context), pushes and deploys with the names the chart
 * renders. docker, helm and kubectl are recording stand-ins here; the helm values the script sets are then rendered
 * with the real helm. Real image builds run in `deno task test:cluster` (scripts/images/local.sh).
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { containers, type Manifest, named, podSpec, rendered, scenarioFiles } from "./support/chart.ts";
import { repoRoot } from "./support/paths.ts";

/** The parts of a Dockerfile the chart depends on. */
async function dockerfile(component: string) {
  const text = await Deno.readTextFile(`${repoRoot}/${component}/Dockerfile`);
  const from = /^FROM \$\{BASE\}$/m.test(text) ? text.match(/^ARG BASE=denoland\/deno:(\S+)$/m)?.[1] : undefined;
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

/**
 * Runs scripts/images.sh with recording docker/helm/kubectl first on PATH; returns its exit code, their calls, and
 * for `docker build` the files of the build context (its last argument), its deno.json and its npm packages
 * (`@scope/name` for scoped ones).
 */
async function images(args: string[], env: Record<string, string>) {
  const dir = await Deno.makeTempDir();
  try {
    for (const tool of ["docker", "helm", "kubectl"]) {
      await Deno.writeTextFile(`${dir}/${tool}`, `#!/bin/bash\necho "${tool} $*" >> "${dir}/calls"\n`, { mode: 0o755 });
    }
    await Deno.writeTextFile(
      `${dir}/docker`,
      `if [ "$1" = build ]; then ctx="\${@: -1}"; (cd "$ctx" && find . -type f ! -path './node_modules/.deno/*' | sort) > "${dir}/context"; cp "$ctx/deno.json" "${dir}/deno.json"; (cd "$ctx/node_modules" && for d in *; do case "$d" in @*) printf '%s\\n' "$d"/*;; *) echo "$d";; esac; done) > "${dir}/node_modules"; fi\n`,
      { append: true },
    );
    const out = await new Deno.Command("bash", {
      args: [`${repoRoot}/scripts/images.sh`, ...args],
      env: { ...env, PATH: `${dir}:${Deno.env.get("PATH")}` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const lines = async (name: string) =>
      (await Deno.readTextFile(`${dir}/${name}`).catch(() => "")).split("\n").filter(Boolean);
    const calls = await lines("calls");
    const staged = await Deno.readTextFile(`${dir}/deno.json`).then(JSON.parse).catch(() => undefined);
    return {
      code: out.code,
      stderr: new TextDecoder().decode(out.stderr),
      calls,
      context: await lines("context"),
      nodeModules: await lines("node_modules"),
      imports: staged?.imports as Record<string, string> | undefined,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("scripts/images.sh builds and pushes IMAGE_REPO:IMAGE_TAG and deploys it into the chart's objects", async () => {
  const env = { IMAGE_REPO: "registry.example/nexus-gateway", IMAGE_TAG: "1.2.3" };
  const build = await images(["build", "gateway"], env);
  assert.equal(build.code, 0, build.stderr);
  assert.equal(build.calls[0], "docker info", "it looks for a docker daemon first");
  assert.match(build.calls[1], /^docker image inspect denoland\/deno:\S+$/, "then for the Dockerfile's default base");
  assert.match(build.calls[2], /^docker build --network none -t registry\.example\/nexus-gateway:1\.2\.3 \/\S+$/);
  assert.deepEqual((await images(["push", "gateway"], env)).calls, [
    "docker info",
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

Deno.test("scripts/images.sh build stages a hermetic context: the module graph without tests, only the npm packages it imports", async () => {
  const env = { IMAGE_REPO: "registry.example/nexus-model-worker", IMAGE_TAG: "1.2.3", BASE: "example/deno:1" };
  for (const component of ["gateway", "worker"]) {
    const build = await images(["build", component], env);
    assert.equal(build.code, 0, build.stderr);
    assert.match(build.calls[1], /^docker build --network none --build-arg BASE=example\/deno:1 -t /);
    const files = build.context.filter((f) => !f.startsWith("./node_modules/"));
    assert.ok(files.includes("./Dockerfile") && files.includes("./deno.json") && files.includes("./deno.lock"));
    assert.ok(files.includes(`./${component}/main.ts`));
    assert.deepEqual(files.filter((f) => f.endsWith("_test.ts") || f.startsWith("./tests/")), [], "no tests");
    assert.deepEqual(files.filter((f) => f.split("/").length > 2 && !f.startsWith(`./${component}/`)), []);
    // Installed here, so the build downloads nothing: exactly the imports the component uses.
    assert.deepEqual(build.nodeModules.sort(), Object.keys(build.imports!).sort());
    assert.ok(build.imports!.zod && build.imports!["prom-client"], JSON.stringify(build.imports));
    for (const unused of ["openai", "fast-check", "ajv"]) assert.equal(build.imports![unused], undefined, unused);
  }
});

Deno.test("with local-images-values.yaml every pod of the real node uses an image scripts/images/local.sh builds, never pulled", async () => {
  const script = await Deno.readTextFile(`${repoRoot}/scripts/images/local.sh`);
  const built = new Set(script.match(/^images=\(([^)]*)\)/m)![1].split(/\s+/).filter(Boolean));
  const local = parse(await Deno.readTextFile(`${repoRoot}/scripts/cluster/local-images-values.yaml`));
  for (const file of scenarioFiles) {
    const { objects } = await rendered({ files: [file], values: local });
    const pods = objects.map(podSpec).filter((spec): spec is Manifest => spec?.containers !== undefined);
    // GPU workers go to the KWOK GPU nodes, which run nothing.
    const real = pods.filter((spec) => !containers(spec).some((c) => c.resources?.limits?.["nvidia.com/gpu"]));
    assert.ok(real.length >= 3, `${file}: gateway, redis and the test pod at least`);
    for (const container of real.flatMap(containers)) {
      assert.ok(
        built.has(container.image),
        `${file}: ${container.name} runs ${container.image}, which local.sh does not build`,
      );
      assert.equal(container.imagePullPolicy, "Never", `${file}: ${container.name}`);
    }
  }
});

Deno.test("scripts/images.sh refuses to run without IMAGE_REPO, naming it", async () => {
  const result = await images(["build", "gateway"], { IMAGE_TAG: "1" });
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /IMAGE_REPO/);
  assert.deepEqual(result.calls, []);
});
