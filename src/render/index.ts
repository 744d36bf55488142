import {
  appNodeNames,
  clusterNodes,
  memcachedNodeNames,
  type NodeRole,
  type Topology,
} from "../topology/index.js";
import {
  COMPOSE_APP_HTTPS_PORT,
  COMPOSE_APP_PORT,
  COMPOSE_LB_PORT,
  COMPOSE_MEMCACHED_PORT,
  composeAddresses,
  hostPort,
  nativeAddresses,
  nativeHttpsOriginAddresses,
} from "./addresses.js";
import { renderHttpdConf } from "./apache.js";
import { renderComposeFile, renderDockerfiles } from "./compose.js";
import { composeLauncherConfig, launcherFiles, swarmMemoryDir } from "./memcached.js";
import { composeNginxView, nativeNginxView, renderNginx } from "./nginx.js";
import { renderPhpIni } from "./php-ini.js";
import {
  APP_ENTRY_PATH,
  LB_ENTRY_PATH,
  renderStackFile,
  SITE_DOCKERFILE_PATH,
  STACK_FILE_PATH,
  SWARM_PLACEMENT_ENV,
  SWARM_SHM_TARGET,
  SWARM_TASK_HOST_ENV,
  swarmAppAddresses,
  swarmSavePath,
  swarmSubnet,
} from "./swarm.js";
import { readTemplate, renderTemplate } from "./templates.js";

export {
  composeAddresses,
  fnv1a32,
  type HostPort,
  hostPort,
  nativeAddresses,
  nativeHttpsOriginAddresses,
} from "./addresses.js";
export { CONTAINER, composeProject } from "./compose.js";
export {
  HEALTH_PATH,
  NGINX_STATUS_PATH,
  PROBE_PATH,
  PROBE_SECRET_ENV,
  PROBE_SECRET_HEADER,
  SESSION_KEY_PREFIX,
} from "./constants.js";
export {
  type ClusterManifest,
  COMPOSE_FILE_PATH,
  dockerfilePath,
  httpdConfPath,
  MANIFEST_PATH,
  NGINX_CONF_PATH,
  PROBE_FILES,
  phpIniPath,
  type RenderTarget,
} from "./paths.js";
export { iniValue } from "./php-ini.js";
export {
  LB_ENTRY_PATH,
  SECRET_TARGET,
  SITE_DOCKERFILE_PATH,
  STACK_FILE_PATH,
  SWARM_ENV,
  swarmStack,
  swarmSubnet,
} from "./swarm.js";

import {
  type ClusterManifest,
  COMPOSE_FILE_PATH,
  dockerfilePath,
  httpdConfPath,
  MANIFEST_PATH,
  NGINX_CONF_PATH,
  PROBE_FILES,
  phpIniPath,
  type RenderTarget,
} from "./paths.js";

export interface RenderedFile {
  /** Posix path relative to the output directory. */
  path: string;
  content: string;
  mode?: number;
}

export interface RenderOptions {
  target: RenderTarget;
  /** app.root as seen from the output directory, posix, e.g. "../../public" (compose bind-mount source). */
  rootFromOut: string;
  /** App nodes to mark `down` in the nginx upstream (to drain a node during a rolling restart). */
  drained?: string[];
}

function checkDrained(t: Topology, drained: string[]): void {
  const apps = appNodeNames(t);
  const unknown = drained.filter((node) => !apps.includes(node));
  if (unknown.length > 0) {
    throw new Error(`cannot drain ${unknown.join(", ")}: the app nodes are ${apps.join(", ")}`);
  }
}

function dockerRole(role: NodeRole): "app" | "lb" | "memcached" {
  return role === "balancer" ? "lb" : role;
}

function manifest(t: Topology, target: RenderTarget): ClusterManifest {
  const native = nativeAddresses(t);
  const compose = composeAddresses(t).nodes;
  const nodes = clusterNodes(t).map(({ name, role }) => {
    const files: string[] = [];
    if (role === "app") files.push(httpdConfPath(name), phpIniPath(name));
    if (role === "balancer") files.push(NGINX_CONF_PATH);
    if (role === "memcached" && target !== "native") files.push(`${name}/launcher.json`);
    if (target !== "native") files.push(dockerfilePath(dockerRole(role)));
    let host: string;
    let port: number;
    if (target === "native") {
      const address = native[name];
      if (address === undefined) throw new Error(`no address for node ${name}`);
      ({ host, port } = address);
    } else {
      const address = target === "swarm" ? name : compose[name];
      if (address === undefined) throw new Error(`no address for node ${name}`);
      host = address;
      port =
        role === "memcached" ? COMPOSE_MEMCACHED_PORT : role === "app" ? COMPOSE_APP_PORT : COMPOSE_LB_PORT;
    }
    return { name, role, host, port, files };
  });
  return { name: t.name, target, nodes, balancer: { bind: t.balancer.bind, port: t.balancer.port } };
}

/** The swarm runtime's files: the compose images' Dockerfiles, configs that name nodes, not addresses. */
function renderSwarm(t: Topology, drained: string[], add: (path: string, content: string) => void): void {
  const apps = appNodeNames(t);
  const savePath = swarmSavePath(t);
  const httpsAddresses = t.balancer.tls ? swarmAppAddresses(t, COMPOSE_APP_HTTPS_PORT) : {};
  add(
    NGINX_CONF_PATH,
    renderNginx(t, {
      ...composeNginxView(t, swarmAppAddresses(t, COMPOSE_APP_PORT), httpsAddresses, drained),
      target: "swarm",
    }),
  );
  add(LB_ENTRY_PATH, readTemplate("swarm/lb-entry.sh"));
  add(APP_ENTRY_PATH, readTemplate("swarm/app-entry.sh"));
  for (const node of apps) {
    add(
      httpdConfPath(node),
      renderHttpdConf(t, node, {
        target: "swarm",
        listen: String(COMPOSE_APP_PORT),
        errorLog: "/proc/self/fd/2",
        accessLog: "/proc/self/fd/1",
        internalProxy: swarmSubnet(t),
        httpsListen: t.balancer.tls ? String(COMPOSE_APP_HTTPS_PORT) : "",
      }),
    );
    add(phpIniPath(node), renderPhpIni(t, node, "swarm", savePath));
  }
  for (const node of memcachedNodeNames(t)) {
    const config = {
      ...composeLauncherConfig(
        t,
        node,
        savePath,
        COMPOSE_MEMCACHED_PORT,
        swarmMemoryDir(t, node, SWARM_SHM_TARGET),
      ),
      witnesses: [
        ...apps.map((a) => ({ host: a, port: COMPOSE_APP_PORT })),
        { host: "lb", port: COMPOSE_LB_PORT },
      ],
      clients: apps,
      hostEnv: { task: SWARM_TASK_HOST_ENV, placement: SWARM_PLACEMENT_ENV },
      memoryLock: true,
    };
    add(`${node}/launcher.json`, `${JSON.stringify(config, null, 2)}\n`);
  }
  for (const f of launcherFiles()) add(`images/memcached/launcher/${f.path}`, f.content);
  const dockerfiles = renderDockerfiles(t);
  add(dockerfilePath("app"), dockerfiles.app);
  add(dockerfilePath("lb"), dockerfiles.lb);
  add(dockerfilePath("memcached"), dockerfiles.memcached);
  add(SITE_DOCKERFILE_PATH, renderTemplate("docker/site.Dockerfile.liquid", { cluster: t.name }));
}

/**
 * Every file of the cluster for one runtime target, sorted by path. Pure and deterministic:
 * the same topology and options give the same bytes (no timestamps, no absolute paths, no randomness).
 */
export function renderCluster(topology: Topology, options: RenderOptions): RenderedFile[] {
  const t = topology;
  const drained = options.drained ?? [];
  checkDrained(t, drained);
  const files: RenderedFile[] = [];
  const add = (path: string, content: string) => files.push({ path, content });

  const apps = appNodeNames(t);
  const memcached = clusterNodes(t).filter((n) => n.role === "memcached");

  if (options.target === "native") {
    const addresses = nativeAddresses(t);
    const at = (node: string) => {
      const a = addresses[node];
      if (a === undefined) throw new Error(`no address for node ${node}`);
      return a;
    };
    const savePath = memcached.map((m) => hostPort(at(m.name).host, at(m.name).port));
    const appAddresses = Object.fromEntries(apps.map((a) => [a, hostPort(at(a).host, at(a).port)]));
    const https = nativeHttpsOriginAddresses(t);
    const httpsAddresses = Object.fromEntries(
      Object.entries(https).map(([a, h]) => [a, hostPort(h.host, h.port)]),
    );
    add(NGINX_CONF_PATH, renderNginx(t, nativeNginxView(t, appAddresses, httpsAddresses, drained)));
    for (const node of apps) {
      const a = at(node);
      add(
        httpdConfPath(node),
        renderHttpdConf(t, node, {
          target: "native",
          listen: hostPort(a.host, a.port),
          errorLog: "logs/error.log",
          accessLog: "logs/access.log",
          internalProxy: "127.0.0.1",
          httpsListen: https[node] ? hostPort(https[node].host, https[node].port) : "",
        }),
      );
      add(phpIniPath(node), renderPhpIni(t, node, "native", savePath));
    }
  } else if (options.target === "swarm") {
    renderSwarm(t, drained, add);
  } else {
    const { subnet, nodes: ips } = composeAddresses(t);
    const ip = (node: string) => {
      const a = ips[node];
      if (a === undefined) throw new Error(`no address for node ${node}`);
      return a;
    };
    const savePath = memcached.map((m) => `${ip(m.name)}:${COMPOSE_MEMCACHED_PORT}`);
    const appAddresses = Object.fromEntries(apps.map((a) => [a, `${ip(a)}:${COMPOSE_APP_PORT}`]));
    const httpsAddresses = t.balancer.tls
      ? Object.fromEntries(apps.map((a) => [a, `${ip(a)}:${COMPOSE_APP_HTTPS_PORT}`]))
      : {};
    add(NGINX_CONF_PATH, renderNginx(t, composeNginxView(t, appAddresses, httpsAddresses, drained)));
    for (const node of apps) {
      add(
        httpdConfPath(node),
        renderHttpdConf(t, node, {
          target: "compose",
          listen: String(COMPOSE_APP_PORT),
          errorLog: "/proc/self/fd/2",
          accessLog: "/proc/self/fd/1",
          internalProxy: subnet,
          httpsListen: t.balancer.tls ? String(COMPOSE_APP_HTTPS_PORT) : "",
        }),
      );
      add(phpIniPath(node), renderPhpIni(t, node, "compose", savePath));
    }
    for (const node of memcached.map((m) => m.name)) {
      add(
        `${node}/launcher.json`,
        `${JSON.stringify(composeLauncherConfig(t, node, savePath, COMPOSE_MEMCACHED_PORT), null, 2)}\n`,
      );
    }
    for (const f of launcherFiles()) add(`images/memcached/launcher/${f.path}`, f.content);
    const dockerfiles = renderDockerfiles(t);
    add(dockerfilePath("app"), dockerfiles.app);
    add(dockerfilePath("lb"), dockerfiles.lb);
    add(dockerfilePath("memcached"), dockerfiles.memcached);
    add(COMPOSE_FILE_PATH, renderComposeFile(t, options.rootFromOut));
  }

  for (const path of PROBE_FILES) add(path, readTemplate(path));
  // the stack names every file it mounts by content: it comes once they are all there
  if (options.target === "swarm")
    add(STACK_FILE_PATH, renderStackFile(t, new Map(files.map((f) => [f.path, f.content]))));
  add(MANIFEST_PATH, `${JSON.stringify(manifest(t, options.target), null, 2)}\n`);

  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
