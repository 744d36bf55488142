import { fail } from "../../errors.js";
import {
  appNodeNames,
  clusterNodes,
  memcachedNodeNames,
  type NodeInfo,
  type Topology,
} from "../../topology/index.js";

/** One node of the topology by name (and role): an unknown name is a usage error naming the known ones. */
export function nodeOf(t: Topology, name: string, role?: "app" | "memcached"): NodeInfo {
  const known =
    role === "app" ? appNodeNames(t) : role === "memcached" ? memcachedNodeNames(t) : nodeNames(t);
  const node = clusterNodes(t).find((n) => n.name === name);
  if (!node || !known.includes(name)) throw fail.unknownNode(name, known, role);
  return node;
}

export function nodeNames(t: Topology): string[] {
  return clusterNodes(t).map((n) => n.name);
}

/** Graceful stop: in-flight requests may take up to the balancer's read timeout to finish. */
export function stopGraceMs(t: Topology): number {
  return Math.max(10_000, t.balancer.readTimeoutMs + 5000);
}
