/**
 * A connection-level TCP balancer, standing in for a Kubernetes Service (kube-proxy in iptables mode): each new
 * connection goes to a backend drawn at random, and every byte of that connection follows it. Requests on a kept-alive
 * connection are never rebalanced, which is what "direct to one Service URL" means for a pooled HTTP client.
 * Usage: deno run -A bench/tcp_balancer.ts <port> <backend host:port>...
 */

/** Pipes one accepted connection to a backend drawn at random until either side closes. */
async function relay(client: Deno.TcpConn, backends: Array<{ hostname: string; port: number }>): Promise<void> {
  const backend = backends[Math.floor(Math.random() * backends.length)];
  let upstream: Deno.TcpConn;
  try {
    upstream = await Deno.connect(backend);
  } catch {
    client.close();
    return;
  }
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  const close = () => {
    try {
      client.close();
    } catch { /* closed */ }
    try {
      upstream.close();
    } catch { /* closed */ }
  };
  await Promise.race([
    client.readable.pipeTo(upstream.writable, { preventClose: true }).catch(() => {}),
    upstream.readable.pipeTo(client.writable, { preventClose: true }).catch(() => {}),
  ]);
  close();
}

if (import.meta.main) {
  const [port, ...targets] = Deno.args;
  if (!port || targets.length === 0) {
    console.error("usage: deno run -A bench/tcp_balancer.ts <port> <host:port>...");
    Deno.exit(2);
  }
  const backends = targets.map((target) => {
    const [hostname, backendPort] = target.split(":");
    return { hostname, port: Number(backendPort) };
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(port) });
  for await (const client of listener) relay(client, backends);
}
