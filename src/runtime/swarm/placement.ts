import { appNodeNames, memcachedNodeNames, type Topology } from "../../topology/index.js";
import type { SwarmNode } from "./engine.js";

export interface Placement {
  /** Node name → swarm node id. */
  hosts: Record<string, string>;
  /** What the swarm was too small for (printed as warnings by create). */
  notes: string[];
}

/**
 * Each phpcluster node pinned to one swarm host (so that draining a host stops exactly its nodes,
 * and a node that returns comes back where its memory file is):
 * - memcached nodes on different hosts, so that no host holds a session and its replica (every
 *   other memcached node can hold a key's replica);
 * - app nodes round robin over the hosts, starting after the memcached ones, so that no host holds
 *   every app node;
 * - the balancer on the manager phpcluster talks to (its address is where the cluster is published).
 * Hosts in name order, only ready and active ones. Pure: the same swarm gives the same placement.
 */
export function placeNodes(t: Topology, swarm: SwarmNode[], managerId?: string): Placement {
  const hosts = swarm.filter((n) => n.ready && n.active);
  if (hosts.length === 0) throw new Error("the swarm has no ready, active node");
  const notes: string[] = [];
  const out: Record<string, string> = {};
  const mc = memcachedNodeNames(t);
  const apps = appNodeNames(t);
  mc.forEach((node, j) => {
    out[node] = (hosts[j % hosts.length] as SwarmNode).id;
  });
  if (mc.length > 1 && mc.length > hosts.length) {
    notes.push(
      `${mc.length} memcached nodes on ${hosts.length} host${hosts.length > 1 ? "s" : ""}: some share a host, and losing it loses a session with its replica`,
    );
  }
  apps.forEach((node, i) => {
    out[node] = (hosts[(mc.length + i) % hosts.length] as SwarmNode).id;
  });
  if (apps.length > 1 && hosts.length < 2)
    notes.push("one host holds every app node: losing it stops the cluster");
  // the manager phpcluster talks to: its engine runs the balancer's container, so that a drain or
  // a reload is a `docker exec` there
  const manager =
    hosts.find((n) => n.id === managerId) ?? hosts.find((n) => n.manager) ?? (hosts[0] as SwarmNode);
  out.lb = manager.id;
  return { hosts: out, notes };
}
