import { createHash } from "node:crypto";
import { type LauncherConfig, launcherCommon, memcachedArgs } from "../../render/memcached.js";
import { memcachedNodeNames, type Topology } from "../../topology/index.js";

export { launcherDir } from "../../render/memcached.js";

/** Where the native runtime keeps a cluster's memcached memory (tmpfs): one folder per state directory. */
export function nativeMemoryDir(t: Topology, stateDir: string): string {
  const hash = createHash("sha1").update(stateDir).digest("hex").slice(0, 10);
  return `/dev/shm/phpcluster/${t.name}-${hash}`;
}

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
    ...launcherCommon(t),
  };
}
