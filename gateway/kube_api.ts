/**
 * Read access to the Kubernetes API server: in a pod, through the ServiceAccount's token and CA (the standard in-cluster
 * configuration); elsewhere (tests), through a given server, token and CA.
 */

/** Where the kubelet mounts a pod's ServiceAccount credentials. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** How to reach the API server. */
export interface KubeApiOptions {
  /** `https://host:port` (or `http://` for a test double). */
  server: string;
  /** The bearer token, read before each request (projected tokens are rotated on disk). */
  token: () => string;
  /** PEM of the CA that signed the server's certificate; undefined: the system's roots. */
  caCert?: string;
  /** The namespace of names without one (the pod's own namespace in a cluster). */
  namespace: string;
}

/** A minimal API client: authenticated GETs, streamed. */
export class KubeApi {
  readonly server: string;
  readonly namespace: string;
  readonly #token: () => string;
  readonly #client: Deno.HttpClient | undefined;

  constructor(options: KubeApiOptions) {
    this.server = options.server.replace(/\/+$/, "");
    this.namespace = options.namespace;
    this.#token = options.token;
    this.#client = options.caCert === undefined ? undefined : Deno.createHttpClient({ caCerts: [options.caCert] });
  }

  /** The pod's own API access from its environment and ServiceAccount files; throws naming what is missing. */
  static inCluster(
    env: Record<string, string | undefined> = Deno.env.toObject(),
    dir: string = SERVICE_ACCOUNT_DIR,
  ): KubeApi {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) {
      throw new Error("not in a Kubernetes pod: KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT is unset");
    }
    const read = (name: string) => {
      try {
        return Deno.readTextFileSync(`${dir}/${name}`).trim();
      } catch (error) {
        throw new Error(`cannot read the ServiceAccount's ${name} in ${dir}: ${(error as Error).message}`);
      }
    };
    const namespace = read("namespace");
    const caCert = read("ca.crt");
    read("token"); // fail at startup, not at the first request
    return new KubeApi({
      server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
      token: () => read("token"),
      caCert,
      namespace,
    });
  }

  /** GET `path` (with its query) as JSON; the caller reads or cancels the body. */
  get(path: string, signal: AbortSignal): Promise<Response> {
    return fetch(`${this.server}${path}`, {
      headers: { authorization: `Bearer ${this.#token()}`, accept: "application/json" },
      signal,
      client: this.#client,
    });
  }

  /** Releases the HTTP client. */
  close(): void {
    this.#client?.close();
  }
}
