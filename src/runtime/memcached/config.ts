import { createHash } from "node:crypto";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { SESSION_KEY_PREFIX } from "../../render/constants.js";
import { memcachedNodeNames, type Topology } from "../../topology/index.js";
import type { LauncherConfig } from "./launcher.js";

/**
 * The memcached launcher's configuration for one node (see launcher.ts). The memory file and
 * the launcher's status live on tmpfs (`/dev/shm/phpcluster/...`): a warm restart reads the
 * memory back, and the host reads the status of every runtime's nodes there.
 */

/** The memcached arguments of every start of a node: a warm restart needs them unchanged. */
export function memcachedArgs(t: Topology, opts: { user: boolean; threads?: number }): string[] {
  return [
    ...(opts.user ? ["-u", "memcache"] : []),
    ...["-m", String(t.memcached.memory), "-c", "1024", "-U", "0"],
    ...(opts.threads ? ["-t", String(opts.threads)] : []),
  ];
}

function common(t: Topology): Pick<LauncherConfig, "replicas" | "prefix" | "locking" | "lockExpire"> {
  return {
    replicas: t.sessions.replicas,
    prefix: SESSION_KEY_PREFIX,
    locking: t.sessions.locking,
    lockExpire: Math.max(1, Math.ceil(t.sessions.lockExpireMs / 1000)),
  };
}

/** Where the native runtime keeps a cluster's memcached memory: one folder per state directory. */
export function nativeMemoryDir(t: Topology, stateDir: string): string {
  const hash = createHash("sha1").update(stateDir).digest("hex").slice(0, 10);
  return `/dev/shm/phpcluster/${t.name}-${hash}`;
}

/** Where the compose runtime keeps it (bind-mounted into each memcached container). */
export function composeMemoryDir(t: Topology): string {
  return `/dev/shm/phpcluster/compose-${t.name}`;
}

export const CONTAINER_MEMORY_DIR = "/var/lib/phpcluster/memory";

export function nativeLauncherConfig(
  t: Topology,
  node: string,
  o: { servers: { host: string; port: number }[]; memoryDir: string; memcached: string; root: boolean },
): LauncherConfig {
  const index = memcachedNodeNames(t).indexOf(node);
  const self = o.servers[index] ?? { host: "127.0.0.1", port: 0 };
  return {
    node,
    servers: o.servers.map((s) => `${s.host}:${s.port}`),
    index,
    listen: self,
    probe: self,
    stagingHost: "127.0.0.1",
    memoryFile: `${o.memoryDir}/${node}/memory`,
    statusFile: `${o.memoryDir}/${node}/status.json`,
    memcached: o.memcached,
    args: memcachedArgs(t, { user: o.root, threads: 2 }),
    ...common(t),
  };
}

export function composeLauncherConfig(
  t: Topology,
  node: string,
  servers: string[],
  port: number,
): LauncherConfig {
  return {
    node,
    servers,
    index: memcachedNodeNames(t).indexOf(node),
    listen: { host: "0.0.0.0", port },
    probe: { host: "127.0.0.1", port },
    stagingHost: "127.0.0.1",
    memoryFile: `${CONTAINER_MEMORY_DIR}/memory`,
    statusFile: `${CONTAINER_MEMORY_DIR}/status.json`,
    memcached: "/usr/bin/memcached",
    args: memcachedArgs(t, { user: true }),
    ...common(t),
  };
}

/** The launcher's compiled modules, from dist/ (beside this file, or of the checkout when sources run). */
export const LAUNCHER_MODULES = ["launcher.js", "client.js", "placement.js"] as const;

export function launcherDir(): string {
  const candidates = [
    fileURLToPath(new URL("./", import.meta.url)),
    fileURLToPath(new URL("../../../dist/runtime/memcached/", import.meta.url)),
  ];
  const found = candidates.find((d) => fs.existsSync(`${d}launcher.js`));
  if (!found)
    throw new Error(
      `the memcached launcher is not built (looked in ${candidates.join(", ")}): run npm run build`,
    );
  return found;
}
