/**
 * kubectl and helm against the local cluster ($KUBECONFIG, set by scripts/cluster/test.sh), for tests/cluster/*.ts.
 * Every install uses the local images (scripts/cluster/local-images-values.yaml): the real node never pulls.
 */
import { chartDir, type Manifest, run } from "./chart.ts";
import { repoRoot } from "./paths.ts";

/** The values file that points the chart at the images up.sh imported into the real node's containerd. */
export const localImagesValues = `${repoRoot}/scripts/cluster/local-images-values.yaml`;

/** Runs kubectl or helm and returns its stdout; throws with its stderr when it fails. */
export async function must(
  tool: "kubectl" | "helm",
  args: string[],
  options: { stdin?: string } = {},
): Promise<string> {
  const result = await run(tool, args, options);
  if (result.code !== 0) throw new Error(`${tool} ${args.join(" ")} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** `kubectl get ... -o json`, parsed. */
export async function getJson(args: string[]): Promise<Manifest> {
  return JSON.parse(await must("kubectl", ["get", ...args, "-o", "json"]));
}

/** Installs one ci/ scenario into its own namespace (named like the release) with the local images. */
export async function install(release: string, scenario: string, extra: string[] = []): Promise<void> {
  await must("helm", [
    "install",
    release,
    chartDir,
    "--namespace",
    release,
    "--create-namespace",
    "--values",
    `${chartDir}/ci/${scenario}-values.yaml`,
    "--values",
    localImagesValues,
    ...extra,
  ]);
}

/** Removes a namespace without waiting (the cluster is torn down after the run anyway). */
export async function dropNamespace(namespace: string): Promise<void> {
  await run("kubectl", ["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]);
}

/** Polls until check returns a value (at most timeoutMs, default two minutes); throws naming what it waited for. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`gave up waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** Pods of one component (app.kubernetes.io/component) of a release, running or not. */
export async function componentPods(namespace: string, component: string): Promise<Manifest[]> {
  return (await getJson(["pods", "-n", namespace, "-l", `app.kubernetes.io/component=${component}`])).items;
}

/**
 * The ClusterIP and first port of a Service, as an http:// base URL reachable from this host through kube-proxy,
 * once the Service routes: its EndpointSlices list `readyEndpoints` ready endpoints, and a GET of `path` through the
 * ClusterIP answers. Pods being Ready (`helm --wait`, `kubectl rollout status`) comes before that: kube-proxy programs
 * the new endpoints a moment later, and until then a Service without endpoints refuses connections.
 */
export async function serviceUrl(
  namespace: string,
  name: string,
  readyEndpoints = 1,
  path = "/health",
): Promise<string> {
  const service = await getJson(["service", "-n", namespace, name]);
  const url = `http://${service.spec.clusterIP}:${service.spec.ports[0].port}`;
  await waitFor(`${readyEndpoints} ready endpoint(s) of Service ${namespace}/${name}`, async () => {
    const slices = await getJson(["endpointslices", "-n", namespace, "-l", `kubernetes.io/service-name=${name}`]);
    const ready = slices.items.flatMap((slice: Manifest) => slice.endpoints ?? [])
      .filter((endpoint: Manifest) => endpoint.conditions?.ready === true).length;
    return ready === readyEndpoints ? true : undefined;
  });
  await waitFor(`Service ${namespace}/${name} to answer through kube-proxy`, async () => {
    const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5_000) });
    await response.body?.cancel();
    return response.ok ? true : undefined;
  });
  return url;
}
