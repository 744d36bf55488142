/**
 * What the swarm driver reads from the manager: the swarm's nodes, the stack's services and tasks,
 * and where a task runs (its host, its container, its address). Parsing is pure (tested on
 * recorded `docker inspect` output); running goes through the compose driver's `docker` runner
 * (argument arrays, bounded, the command's own environment).
 */

import { docker, type Ran, type RunOptions } from "../compose/exec.js";
import type { NodeState } from "../driver.js";

export interface SwarmNode {
  id: string;
  hostname: string;
  /** The address other hosts reach it at (Status.Addr). */
  addr: string;
  ready: boolean;
  /** Availability "active" (not drained or paused). */
  active: boolean;
  manager: boolean;
}

export interface SwarmTask {
  id: string;
  serviceId: string;
  /** The service's name without the stack prefix: the node's name. */
  node: string;
  slot: number;
  nodeId: string;
  desired: string;
  state: string;
  error: string;
  containerId: string;
  /** The task's address on the stack's network, without the prefix length. */
  address: string;
  updatedAt: string;
  /** Exit code of the container, once it ended. */
  exitCode: number | undefined;
}

export interface SwarmInfo {
  /** LocalNodeState: inactive, pending, active, error, locked. */
  state: string;
  manager: boolean;
  nodes: number;
  nodeId: string;
  error?: string;
}

export const run = (env: NodeJS.ProcessEnv, args: string[], opts: RunOptions = {}): Promise<Ran> =>
  docker(env, args, opts);

/** `docker info` of the engine the CLI points at: is it a swarm manager, and how many nodes. */
export async function swarmInfo(env: NodeJS.ProcessEnv): Promise<SwarmInfo> {
  const r = await run(env, ["info", "--format", "{{json .Swarm}}"], { timeoutMs: 10_000 });
  if (r.exitCode !== 0) {
    return {
      state: "unreachable",
      manager: false,
      nodes: 0,
      nodeId: "",
      error: (r.stderr || r.shortMessage).trim(),
    };
  }
  return parseSwarmInfo(r.stdout);
}

export function parseSwarmInfo(stdout: string): SwarmInfo {
  const s = JSON.parse(stdout) as {
    LocalNodeState?: string;
    ControlAvailable?: boolean;
    Nodes?: number;
    NodeID?: string;
    Error?: string;
  };
  return {
    state: s.LocalNodeState ?? "inactive",
    manager: s.ControlAvailable === true,
    nodes: s.Nodes ?? 0,
    nodeId: s.NodeID ?? "",
    ...(s.Error ? { error: s.Error } : {}),
  };
}

/** One JSON document per input id, as `docker inspect` prints them (an array). */
function inspectArray(stdout: string): Record<string, unknown>[] {
  const parsed = JSON.parse(stdout || "[]") as unknown;
  return Array.isArray(parsed) ? (parsed as Record<string, unknown>[]) : [];
}

export function parseNodes(stdout: string): SwarmNode[] {
  return inspectArray(stdout).map((n) => {
    const desc = (n.Description ?? {}) as { Hostname?: string };
    const status = (n.Status ?? {}) as { State?: string; Addr?: string };
    const spec = (n.Spec ?? {}) as { Availability?: string; Role?: string };
    const managerStatus = (n.ManagerStatus ?? {}) as { Addr?: string };
    // a manager's Status.Addr can read 0.0.0.0: its advertised address is in ManagerStatus
    const addr =
      status.Addr && status.Addr !== "0.0.0.0"
        ? status.Addr
        : (managerStatus.Addr ?? "").replace(/:\d+$/, "");
    return {
      id: String(n.ID ?? ""),
      hostname: desc.Hostname ?? "",
      addr,
      ready: status.State === "ready",
      active: spec.Availability === "active",
      manager: spec.Role === "manager",
    };
  });
}

export async function listNodes(env: NodeJS.ProcessEnv): Promise<SwarmNode[]> {
  const ids = await run(env, ["node", "ls", "-q"], { timeoutMs: 15_000 });
  if (ids.exitCode !== 0) throw new Error((ids.stderr || ids.shortMessage).trim());
  const list = ids.stdout.split(/\s+/).filter(Boolean);
  if (list.length === 0) return [];
  const r = await run(env, ["node", "inspect", ...list], { timeoutMs: 15_000 });
  if (r.exitCode !== 0) throw new Error((r.stderr || r.shortMessage).trim());
  return parseNodes(r.stdout).sort((a, b) =>
    a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0,
  );
}

export function parseTasks(stdout: string, stack: string): SwarmTask[] {
  return inspectArray(stdout).map((t) => {
    const status = (t.Status ?? {}) as {
      State?: string;
      Err?: string;
      ContainerStatus?: { ContainerID?: string; ExitCode?: number };
    };
    const labels = ((t.Spec as { ContainerSpec?: { Labels?: Record<string, string> } } | undefined)
      ?.ContainerSpec?.Labels ?? {}) as Record<string, string>;
    const attachments = (t.NetworksAttachments ?? []) as {
      Network?: { Spec?: { Name?: string } };
      Addresses?: string[];
    }[];
    const backend = attachments.find((a) => a.Network?.Spec?.Name === `${stack}_backend`);
    return {
      id: String(t.ID ?? ""),
      serviceId: String(t.ServiceID ?? ""),
      node: labels["io.phpcluster.node"] ?? "",
      slot: Number(t.Slot ?? 0),
      nodeId: String(t.NodeID ?? ""),
      desired: String(t.DesiredState ?? ""),
      state: status.State ?? "",
      error: status.Err ?? "",
      containerId: status.ContainerStatus?.ContainerID ?? "",
      address: (backend?.Addresses?.[0] ?? "").replace(/\/\d+$/, ""),
      updatedAt: String(t.UpdatedAt ?? ""),
      exitCode: status.ContainerStatus?.ExitCode,
    };
  });
}

/** Every task of the stack (every service, current and past), read from the manager. */
export async function listTasks(env: NodeJS.ProcessEnv, stack: string): Promise<SwarmTask[]> {
  const ids = await run(env, ["stack", "ps", "-q", "--no-trunc", stack], { timeoutMs: 15_000 });
  if (ids.exitCode !== 0) {
    if (/nothing found in stack/i.test(ids.stderr + ids.stdout)) return [];
    throw new Error((ids.stderr || ids.shortMessage).trim());
  }
  const list = [...new Set(ids.stdout.split(/\s+/).filter(Boolean))];
  if (list.length === 0) return [];
  const r = await run(env, ["inspect", "--type", "task", ...list], { timeoutMs: 15_000 });
  // a task removed between the two commands: inspect fails for it; read the others again
  if (r.exitCode !== 0 && !r.stdout.trim().startsWith("["))
    throw new Error((r.stderr || r.shortMessage).trim());
  return parseTasks(r.stdout, stack);
}

/**
 * The task that says what a node is now: the newest one Swarm wants running, else the newest.
 * Swarm reports `running` only once the container's healthcheck passed; `starting` before.
 */
export function currentTask(tasks: SwarmTask[], node: string): SwarmTask | undefined {
  const mine = tasks.filter((t) => t.node === node).sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : -1));
  return mine.find((t) => t.desired === "running") ?? mine[0];
}

export function taskState(task: SwarmTask | undefined): {
  state: NodeState;
  detail?: string;
  failed?: boolean;
} {
  if (!task || task.desired !== "running") return { state: "stopped" };
  if (task.state === "running") return { state: "running" };
  // placement that no host satisfies stays pending for ever: waiting will not help
  if (task.state === "pending" && /no suitable node/i.test(task.error)) {
    return { state: "stopped", detail: `not placed: ${task.error}`, failed: true };
  }
  return { state: "unhealthy", detail: `task ${task.state}${task.error ? `: ${task.error}` : ""}` };
}

/**
 * The Docker endpoint of each swarm host, from PHPCLUSTER_SWARM_ENGINES: comma-separated
 * `<hostname or node id>=<DOCKER_HOST URL>` pairs (`h2=ssh://root@10.0.0.12,h3=unix:///run/h3.sock`).
 * With it, faults are made on the host itself (`docker kill` of the task's container).
 */
export function engineMap(env: NodeJS.ProcessEnv): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of (env.PHPCLUSTER_SWARM_ENGINES ?? "").split(",")) {
    const i = pair.indexOf("=");
    if (i <= 0) continue;
    out.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  return out;
}

export function engineOf(env: NodeJS.ProcessEnv, node: SwarmNode | undefined): string | undefined {
  if (!node) return undefined;
  const map = engineMap(env);
  return map.get(node.hostname) ?? map.get(node.id);
}
