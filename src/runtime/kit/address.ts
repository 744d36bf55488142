import type { Topology } from "../../topology/index.js";

/** How to reach a listening address from this host: 0.0.0.0 and :: listen everywhere. */
export function connectHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

export interface Endpoint {
  scheme: "http" | "https";
  host: string;
  port: number;
}

/** Where the balancer of a topology serves the cluster, from this host: HTTPS when TLS is on (a driver may know better). */
export function balancerEndpointOf(t: Topology): Endpoint {
  const host = connectHost(t.balancer.bind);
  return t.balancer.tls
    ? { scheme: "https", host, port: t.balancer.tls.port }
    : { scheme: "http", host, port: t.balancer.port };
}

/** The balancer's URL for people: `http://127.0.0.1:8080/`, IPv6 in brackets. */
export function balancerUrl(endpoint: Endpoint): string {
  const { host, port } = endpoint;
  return `${endpoint.scheme}://${host.includes(":") ? `[${host}]` : host}:${port}/`;
}
