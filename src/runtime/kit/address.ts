import type { Topology } from "../../topology/index.js";

/** How to reach a listening address from this host: 0.0.0.0 and :: listen everywhere. */
export function connectHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

/** Where the balancer of a topology is reachable from this host (a driver may know better). */
export function balancerEndpointOf(t: Topology): { host: string; port: number } {
  return { host: connectHost(t.balancer.bind), port: t.balancer.port };
}

/** The balancer's URL for people: `http://127.0.0.1:8080/`, IPv6 in brackets. */
export function balancerUrl(endpoint: { host: string; port: number }): string {
  const { host, port } = endpoint;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
}
