import type { Topology } from "../topology/index.js";

/** How to reach a listening address from this host: 0.0.0.0 and :: listen everywhere. */
export function connectHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

/** Where the balancer is reachable from this host, whatever the runtime. */
export function balancerEndpointOf(t: Topology): { host: string; port: number } {
  return { host: connectHost(t.balancer.bind), port: t.balancer.port };
}

/** The last `count` lines of a text (none for an empty one). */
export function lastLines(text: string, count: number): string[] {
  const trimmed = text.trimEnd();
  return trimmed ? trimmed.split("\n").slice(-count) : [];
}
