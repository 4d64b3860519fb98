/**
 * From Kubernetes EndpointSlices (discovery.k8s.io/v1) to endpoint base URLs: the ready endpoints of a Service, on the
 * chosen port, with the scheme and base path of the upstream's configured URL.
 */

/** The parts of an EndpointSlice that discovery reads. */
export interface EndpointSlice {
  metadata: { name: string; resourceVersion?: string };
  addressType?: "IPv4" | "IPv6" | "FQDN";
  endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean | null } }> | null;
  ports?: Array<{ name?: string | null; port?: number | null; protocol?: string | null }> | null;
}

/** How endpoint URLs are built. */
export interface UrlTemplate {
  /** `http:` or `https:`. */
  protocol: string;
  /** Base path without trailing slash ("" or e.g. "/openai"). */
  basePath: string;
  /** The port by name or number; undefined: each slice's first port. */
  port?: string | number;
}

/** The slice's port number for `template.port`, or undefined when it has no such port. */
function slicePort(slice: EndpointSlice, port: string | number | undefined): number | undefined {
  const ports = slice.ports ?? [];
  const match = port === undefined
    ? ports[0]
    : ports.find((p) => typeof port === "number" ? p.port === port : (p.name ?? "") === port);
  return match?.port ?? undefined;
}

/**
 * Base URLs of every ready endpoint in `slices`, sorted and without duplicates. An endpoint whose `ready` condition is
 * missing counts as ready (the API says so); a slice without the port is skipped and named in `skipped`.
 */
export function endpointUrls(
  slices: Iterable<EndpointSlice>,
  template: UrlTemplate,
): { urls: string[]; skipped: string[] } {
  const urls = new Set<string>();
  const skipped: string[] = [];
  for (const slice of slices) {
    const port = slicePort(slice, template.port);
    if (port === undefined) {
      if ((slice.endpoints ?? []).length > 0) skipped.push(slice.metadata.name);
      continue;
    }
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      const address = endpoint.addresses?.[0]; // all addresses of one endpoint are the same server
      if (!address) continue;
      const host = address.includes(":") ? `[${address}]` : address;
      urls.add(`${template.protocol}//${host}:${port}${template.basePath}`);
    }
  }
  return { urls: [...urls].sort(), skipped };
}
