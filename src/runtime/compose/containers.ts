/**
 * The containers of a Compose project, found through the labels the engine carries for both
 * Compose generations (`com.docker.compose.project`, `com.docker.compose.service`), with
 * `docker ps` + `docker inspect`: v1 has no `ps --format`, and names containers
 * `<project>_<service>_1` where v2 uses dashes, so names are never matched.
 */
import type { NodeState } from "../driver.js";
import { docker } from "./exec.js";

export const LABEL_PROJECT = "com.docker.compose.project";
export const LABEL_SERVICE = "com.docker.compose.service";
const LABEL_ONEOFF = "com.docker.compose.oneoff";
/** The hash of the service's config the container was created from (both generations set it). */
export const LABEL_CONFIG_HASH = "com.docker.compose.config-hash";

/** `docker ps` arguments listing the ids of every container of a project (running or not), or of one service. */
export function listContainersArgs(project: string, service?: string): string[] {
  return [
    "ps",
    "-a",
    "-q",
    "--no-trunc",
    "--filter",
    `label=${LABEL_PROJECT}=${project}`,
    ...(service === undefined ? [] : ["--filter", `label=${LABEL_SERVICE}=${service}`]),
  ];
}

/** `docker network ls` arguments listing the ids of a project's networks. */
export function listNetworksArgs(project: string): string[] {
  return ["network", "ls", "-q", "--filter", `label=${LABEL_PROJECT}=${project}`];
}

/** Ids printed by `docker ps -q` or `docker network ls -q`, one a line. */
export function parseIds(stdout: string): string[] {
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^[0-9a-f]{12,64}$/.test(l));
}

export interface ContainerInfo {
  id: string;
  /** Container name without the leading slash (`shop_app1_1` with v1, `shop-app1-1` with v2). */
  name: string;
  project: string;
  service: string;
  /** created | running | paused | restarting | removing | exited | dead */
  status: string;
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  /** starting | healthy | unhealthy; undefined without a healthcheck. */
  health: string | undefined;
  /** Output of the last healthcheck probe, trimmed. */
  healthOutput: string | undefined;
  startedAt: string | undefined;
  /** Compose's hash of the service config it was created from (`config --hash`), if labelled. */
  configHash: string | undefined;
}

interface InspectJson {
  Id?: string;
  Name?: string;
  State?: {
    Status?: string;
    Pid?: number;
    ExitCode?: number;
    OOMKilled?: boolean;
    StartedAt?: string;
    Health?: { Status?: string; Log?: { Output?: string }[] | null } | null;
  };
  Config?: { Labels?: Record<string, string> | null };
}

/** `docker inspect` output (a JSON array) → the Compose containers in it; one-off (`run`) containers are left out. */
export function parseInspect(stdout: string): ContainerInfo[] {
  const text = stdout.trim();
  if (!text.startsWith("[")) throw new Error(`docker inspect printed no JSON array: ${text.slice(0, 200)}`);
  const items = JSON.parse(text) as InspectJson[];
  const out: ContainerInfo[] = [];
  for (const c of items) {
    const labels = c.Config?.Labels ?? {};
    const service = labels[LABEL_SERVICE];
    if (service === undefined || labels[LABEL_ONEOFF]?.toLowerCase() === "true") continue;
    const log = c.State?.Health?.Log ?? [];
    out.push({
      id: c.Id ?? "",
      name: (c.Name ?? "").replace(/^\//, ""),
      project: labels[LABEL_PROJECT] ?? "",
      service,
      status: c.State?.Status ?? "unknown",
      pid: c.State?.Pid ?? 0,
      exitCode: c.State?.ExitCode ?? 0,
      oomKilled: c.State?.OOMKilled ?? false,
      health: c.State?.Health?.Status || undefined,
      healthOutput: log.length > 0 ? (log[log.length - 1]?.Output ?? "").trim() || undefined : undefined,
      startedAt: c.State?.StartedAt,
      configHash: labels[LABEL_CONFIG_HASH] || undefined,
    });
  }
  return out;
}

/**
 * `compose config --hash "*"` output (`<service> <hash>` a line, both generations) → hash by
 * service. Lines of another shape (a warning on stdout) are left out.
 */
export function parseConfigHashes(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*)\s+([0-9a-f]{32,128})$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

/** When a service has several containers (a leftover of an interrupted run), the running one wins, then the newest. */
export function pickContainer(containers: ContainerInfo[], service: string): ContainerInfo | undefined {
  const mine = containers.filter((c) => c.service === service);
  return mine.sort((a, b) => {
    const running = Number(b.status === "running") - Number(a.status === "running");
    if (running !== 0) return running;
    return (b.startedAt ?? "").localeCompare(a.startedAt ?? "");
  })[0];
}

export interface ContainerState {
  state: NodeState;
  detail?: string | undefined;
  pid?: number | undefined;
}

/** running = running and healthy (or without a healthcheck); unhealthy = running otherwise; stopped = missing or not running. */
export function containerState(c: ContainerInfo | undefined): ContainerState {
  if (c === undefined) return { state: "stopped", detail: "no container" };
  switch (c.status) {
    case "running": {
      if (c.health === undefined || c.health === "healthy")
        return { state: "running", pid: c.pid || undefined };
      const why = c.health === "starting" ? "health: starting" : `health: ${c.health}`;
      return {
        state: "unhealthy",
        pid: c.pid || undefined,
        detail: c.healthOutput && c.health !== "starting" ? `${why} (${firstLine(c.healthOutput)})` : why,
      };
    }
    case "exited":
      return { state: "stopped", detail: `exited (${c.exitCode}${c.oomKilled ? ", out of memory" : ""})` };
    case "created":
      return { state: "stopped", detail: "created, not started" };
    case "paused":
    case "restarting":
      return { state: "unhealthy", detail: c.status, pid: c.pid || undefined };
    default:
      return { state: "stopped", detail: c.status };
  }
}

/**
 * Waiting will not make this container healthy: it is missing, it is neither running nor being
 * restarted by its restart policy, or its healthcheck gave up (`unhealthy`, after its retries).
 */
export function containerFailed(c: ContainerInfo | undefined): boolean {
  if (c === undefined) return true;
  if (c.status !== "running" && c.status !== "restarting") return true;
  return c.status === "running" && c.health === "unhealthy";
}

function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/** The Docker engine did not answer a command that only reads (the driver words it for the user). */
export class DockerUnavailable extends Error {}

/** Every Compose container of a project (or of one service), running or not. */
export async function listContainers(
  env: NodeJS.ProcessEnv,
  project: string,
  service?: string,
): Promise<ContainerInfo[]> {
  for (let attempt = 0; ; attempt++) {
    const ps = await docker(env, listContainersArgs(project, service));
    if (ps.exitCode !== 0) throw new DockerUnavailable((ps.stderr || ps.shortMessage).trim());
    const ids = parseIds(ps.stdout);
    if (ids.length === 0) return [];
    const inspect = await docker(env, ["inspect", ...ids]);
    // a container removed between ps and inspect: inspect prints the others and fails; try once more
    if (inspect.exitCode === 0 || attempt > 0) {
      try {
        return parseInspect(inspect.stdout);
      } catch (err) {
        if (attempt > 0) throw new DockerUnavailable((inspect.stderr || (err as Error).message).trim());
      }
    }
  }
}
