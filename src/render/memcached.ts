import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { memcachedNodeNames, type Topology } from "../topology/index.js";
import { SESSION_KEY_PREFIX } from "./constants.js";

/**
 * The memcached launcher's configuration (see runtime/memcached/launcher.ts), and the files of
 * the memcached image: the launcher's compiled modules. Pure (the modules are read from the
 * package, as templates are).
 */
export interface LauncherConfig {
  node: string;
  /** session.save_path, as the app nodes see it (the order is the handler's). */
  servers: string[];
  /** This node's index in `servers`. */
  index: number;
  /** Where memcached listens for clients (`-l`, `-p`). */
  listen: { host: string; port: number };
  /** How the launcher reaches its own memcached (the listen address, or loopback inside a container). */
  probe: { host: string; port: number };
  /** Loopback address for staging (a free port is picked there). */
  stagingHost: string;
  /** The restartable memory file (`-e`), on tmpfs. */
  memoryFile: string;
  /** Written atomically: state, pid of memcached, items, the last return. */
  statusFile: string;
  memcached: string;
  /** memcached's other arguments, the same on every start (-m, -c, -t, -U 0, -u …): a warm restart needs them equal. */
  args: string[];
  replicas: number;
  prefix: string;
  /** memcached.sess_locking and sess_lock_expire (seconds): the switch holds the sessions' locks. */
  locking: boolean;
  lockExpire: number;
  /**
   * swarm: addresses on other hosts (the app nodes, the balancer) whose answers tell a host that
   * is cut off (nothing answers, not even with a refusal) from peers that are only down.
   */
  witnesses?: { host: string; port: number }[];
  /**
   * swarm: the app nodes by name. A node's new task has a new address; the switch waits (its
   * locks held) until each of them has connected to it, so none writes to the peers only.
   */
  clients?: string[];
  /**
   * swarm: the environment variables that hold the task's host (`{{.Node.ID}}`) and every node's
   * host (`node=<id> …`): peers and witnesses on the task's own host answer even when the host
   * is cut off, so they are not asked.
   */
  hostEnv?: { task: string; placement: string };
  /**
   * swarm: take the memory file with a lock before using it. Swarm can start a node's new task
   * on a host while the old one still stops there (a host that returns from a cut), and two
   * memcached processes on one memory file crash (measured: SIGSEGV).
   */
  memoryLock?: boolean;
}

/** The memcached arguments of every start of a node: a warm restart needs them unchanged. */
export function memcachedArgs(t: Topology, opts: { user: boolean; threads?: number }): string[] {
  return [
    ...(opts.user ? ["-u", "memcache"] : []),
    ...["-m", String(t.memcached.memory), "-c", "1024", "-U", "0"],
    ...(opts.threads ? ["-t", String(opts.threads)] : []),
  ];
}

export function launcherCommon(
  t: Topology,
): Pick<LauncherConfig, "replicas" | "prefix" | "locking" | "lockExpire"> {
  return {
    replicas: t.sessions.replicas,
    prefix: SESSION_KEY_PREFIX,
    locking: t.sessions.locking,
    lockExpire: Math.max(1, Math.ceil(t.sessions.lockExpireMs / 1000)),
  };
}

/** Where the compose runtime keeps a cluster's memcached memory on the host (bind-mounted, tmpfs). */
export function composeMemoryDir(t: Topology): string {
  return `/dev/shm/phpcluster/compose-${t.name}`;
}

export const CONTAINER_MEMORY_DIR = "/var/lib/phpcluster/memory";

/** Where the swarm runtime keeps a node's memory on its host's tmpfs (`/dev/shm/phpcluster/swarm-<cluster>/<node>`). */
export function swarmMemoryDir(t: Topology, node: string, shm: string): string {
  return `${shm}/phpcluster/swarm-${t.name}/${node}`;
}
export const CONTAINER_LAUNCHER_DIR = "/opt/phpcluster/memcached";

/**
 * A memcached node in a container. `memoryDir`: compose bind-mounts the node's own tmpfs directory
 * at CONTAINER_MEMORY_DIR; swarm mounts the host's /dev/shm and keeps the node's directory inside it.
 */
export function composeLauncherConfig(
  t: Topology,
  node: string,
  servers: string[],
  port: number,
  memoryDir = CONTAINER_MEMORY_DIR,
): LauncherConfig {
  return {
    node,
    servers,
    index: memcachedNodeNames(t).indexOf(node),
    listen: { host: "0.0.0.0", port },
    probe: { host: "127.0.0.1", port },
    stagingHost: "127.0.0.1",
    memoryFile: `${memoryDir}/memory`,
    statusFile: `${memoryDir}/status.json`,
    memcached: "/usr/bin/memcached",
    args: memcachedArgs(t, { user: true }),
    ...launcherCommon(t),
  };
}

/** The launcher's compiled modules (an ES module package of their own in the image). */
export const LAUNCHER_MODULES = ["launcher.js", "client.js", "placement.js"] as const;

/** Where they are: dist/runtime/memcached/ beside dist/render/, or of the checkout when sources run. */
export function launcherDir(): string {
  const candidates = [
    fileURLToPath(new URL("../runtime/memcached/", import.meta.url)),
    fileURLToPath(new URL("../../dist/runtime/memcached/", import.meta.url)),
  ];
  const found = candidates.find((d) => fs.existsSync(`${d}launcher.js`));
  if (!found)
    throw new Error(
      `the memcached launcher is not built (looked in ${candidates.join(", ")}): run npm run build`,
    );
  return found;
}

/** The image's copy of the launcher: its modules and a package.json that makes them ES modules. */
export function launcherFiles(): { path: string; content: string }[] {
  const dir = launcherDir();
  return [
    ...LAUNCHER_MODULES.map((m) => ({ path: m, content: fs.readFileSync(`${dir}${m}`, "utf8") })),
    { path: "package.json", content: `${JSON.stringify({ type: "module", private: true }, null, 2)}\n` },
  ];
}
