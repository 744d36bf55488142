import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { appNodeNames, memcachedNodeNames, type Topology } from "../topology/index.js";
import { COMPOSE_LB_PORT, COMPOSE_LB_TLS_PORT, COMPOSE_MEMCACHED_PORT, fnv1a32 } from "./addresses.js";
import { CONTAINER, HEALTHCHECK } from "./compose.js";
import { PROBE_SECRET_ENV } from "./constants.js";
import { CONTAINER_LAUNCHER_DIR } from "./memcached.js";
import { httpdConfPath, NGINX_CONF_PATH, PROBE_FILES, phpIniPath } from "./paths.js";

/** The stack file (`docker stack deploy -c`), beside the files it names as Swarm configs. */
export const STACK_FILE_PATH = "stack.yml";
/** The app image with the document root in it (no bind mounts across hosts): FROM the app image. */
export const SITE_DOCKERFILE_PATH = "images/site/Dockerfile";
/** The balancer's entry point (see templates/swarm/lb-entry.sh). */
export const LB_ENTRY_PATH = "lb/entry.sh";
/** The app nodes' entry point: keeps the memcached nodes' addresses in /etc/hosts (see the script). */
export const APP_ENTRY_PATH = "swarm/app-entry.sh";
/** Where the probe secret is mounted in the app containers. */
export const SECRET_TARGET = "/run/secrets/phpcluster-probe";
/** The host's tmpfs, bind-mounted into memcached containers: the memory file outlives the container. */
export const SWARM_SHM_TARGET = "/var/lib/phpcluster/shm";

/**
 * What `docker stack deploy` interpolates from the driver's environment: what only exists once
 * the cluster is deployed (image references by content, the swarm's node ids, the probe secret's
 * versioned name, each node's replica count), so that the rendered file stays a pure function
 * of the topology.
 */
export const SWARM_ENV = {
  image: (role: "app" | "lb" | "memcached") => `PHPCLUSTER_IMAGE_${role.toUpperCase()}`,
  host: (node: string) => `PHPCLUSTER_HOST_${node.toUpperCase()}`,
  replicas: (node: string) => `PHPCLUSTER_REPLICAS_${node.toUpperCase()}`,
  secretName: "PHPCLUSTER_SECRET_NAME",
} as const;

/** The overlay network's subnet, pinned from the cluster name (Apache trusts X-Forwarded-For from it). */
export function swarmSubnet(t: Topology): string {
  const h = fnv1a32(`swarm:${t.name}`);
  return `10.${150 + (h % 50)}.${(h >>> 8) % 256}.0/24`;
}

/** session.save_path on the swarm runtime: the memcached services by name (dnsrr: the task's address). */
export function swarmSavePath(t: Topology): string[] {
  return memcachedNodeNames(t).map((m) => `${m}:${COMPOSE_MEMCACHED_PORT}`);
}

/** The nginx upstream addresses: app nodes by name; the balancer's entry point resolves them. */
export function swarmAppAddresses(t: Topology, port: number): Record<string, string> {
  return Object.fromEntries(appNodeNames(t).map((a) => [a, `${a}:${port}`]));
}

const contentName = (t: Topology, base: string, content: string) =>
  `${t.name}_${base}_${createHash("sha256").update(content).digest("hex").slice(0, 12)}`;

/** A config key in the stack file: letters, digits, dashes and underscores. */
const configKey = (path: string) => path.replace(/[^A-Za-z0-9]+/g, "_");

const HEALTH_TIMING = { interval: "1s", timeout: "2s", retries: 30, start_period: "5s" };

const labels = (t: Topology, node: string, role: string) => ({
  "io.phpcluster.cluster": t.name,
  "io.phpcluster.node": node,
  "io.phpcluster.role": role,
});

const APP_ENTRY_TARGET = `${CONTAINER.configDir}/entry.sh`;

const env = (name: string) => `\${${name}}`;

/** In a memcached task: the swarm node it runs on (a Swarm template, expanded per task). */
export const SWARM_TASK_HOST_ENV = "PHPCLUSTER_TASK_HOST";
/** In a memcached task: `node=<swarm node id>` for every node of the cluster, space-separated. */
export const SWARM_PLACEMENT_ENV = "PHPCLUSTER_PLACEMENT";

const placementOf = (t: Topology) =>
  [...memcachedNodeNames(t), ...appNodeNames(t), "lb"].map((n) => `${n}=${env(SWARM_ENV.host(n))}`).join(" ");

/**
 * The stack as data: one service per node (so one node can be stopped, killed or drained alone),
 * each pinned to the host the driver chose for it, `endpoint_mode: dnsrr` (no VIPs: they need
 * IPVS), the balancer published in host mode; every rendered file a node reads is a Swarm config
 * named by its content, the probe secret a Swarm secret. Exposed for tests.
 */
export function swarmStack(t: Topology, files: Map<string, string>): Record<string, unknown> {
  const configs: Record<string, { name: string; file: string }> = {};
  const config = (path: string, target: string, mode = 0o444) => {
    const content = files.get(path);
    if (content === undefined) throw new Error(`no rendered file ${path}`);
    const key = configKey(path);
    configs[key] = { name: contentName(t, key, content), file: `./${path}` };
    return { source: key, target, mode };
  };
  const deploy = (node: string, extra: Record<string, unknown> = {}) => ({
    mode: "replicated",
    replicas: env(SWARM_ENV.replicas(node)),
    endpoint_mode: "dnsrr",
    placement: { constraints: [`node.id == ${env(SWARM_ENV.host(node))}`] },
    // Swarm starts a failed task again (what production wants); `failover` and `verify` restore too
    restart_policy: { condition: "any", delay: "1s" },
    labels: labels(t, node, extra.role as string),
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== "role")),
  });
  const services: Record<string, Record<string, unknown>> = {};
  const network = ["backend"];

  for (const node of memcachedNodeNames(t)) {
    services[node] = {
      image: env(SWARM_ENV.image("memcached")),
      hostname: node,
      command: ["node", `${CONTAINER_LAUNCHER_DIR}/launcher.js`, `${CONTAINER.configDir}/launcher.json`],
      configs: [config(`${node}/launcher.json`, `${CONTAINER.configDir}/launcher.json`)],
      // the host's tmpfs (it exists on every host): the memory file outlives the task (a warm restart)
      volumes: [{ type: "bind", source: "/dev/shm", target: SWARM_SHM_TARGET }],
      // which witnesses share this task's host (they answer even when the host is cut off)
      environment: {
        [SWARM_TASK_HOST_ENV]: "{{.Node.ID}}",
        [SWARM_PLACEMENT_ENV]: placementOf(t),
      },
      stop_signal: "SIGUSR1",
      stop_grace_period: "10s",
      networks: network,
      healthcheck: {
        test: HEALTHCHECK.memcached,
        ...HEALTH_TIMING,
      },
      labels: labels(t, node, "memcached"),
      deploy: deploy(node, { role: "memcached" }),
    };
  }

  const run = `${CONTAINER.serverRoot}/run`;
  const logs = `${CONTAINER.serverRoot}/logs`;
  for (const node of appNodeNames(t)) {
    services[node] = {
      image: env(SWARM_ENV.image("app")),
      hostname: node,
      command: [
        "/bin/sh",
        "-c",
        // node names are validated ([a-z][a-z0-9]*): quoting them here is safe
        `${PROBE_SECRET_ENV}="$$(cat ${SECRET_TARGET})" && export ${PROBE_SECRET_ENV} && rm -rf ${run} && mkdir -p ${run} ${logs} && exec /bin/sh ${APP_ENTRY_TARGET} '${memcachedNodeNames(t).join(" ")}' -d ${CONTAINER.serverRoot} -f ${CONTAINER.configDir}/httpd.conf -DFOREGROUND`,
      ],
      environment: {
        PHP_INI_SCAN_DIR: `:${CONTAINER.configDir}`,
        PHPCLUSTER_NODE: node,
        PHPCLUSTER_DOCROOT: CONTAINER.docroot,
        PHPCLUSTER_PHP_MODULE: CONTAINER.phpModule,
        PHPCLUSTER_PROBE_DIR: CONTAINER.probeDir,
      },
      configs: [
        config(httpdConfPath(node), `${CONTAINER.configDir}/httpd.conf`),
        config(phpIniPath(node), `${CONTAINER.configDir}/php.ini`),
        config(APP_ENTRY_PATH, APP_ENTRY_TARGET, 0o555),
        ...PROBE_FILES.map((p) => config(p, `${CONTAINER.probeDir}/${p.slice("probe/".length)}`)),
      ],
      secrets: [{ source: "probe", target: SECRET_TARGET, mode: 0o400 }],
      networks: network,
      healthcheck: {
        test: HEALTHCHECK.app,
        ...HEALTH_TIMING,
      },
      stop_signal: "SIGWINCH",
      stop_grace_period: "5s",
      labels: labels(t, node, "app"),
      deploy: deploy(node, { role: "app" }),
    };
  }

  const ports = [
    { target: COMPOSE_LB_PORT, published: t.balancer.port, protocol: "tcp", mode: "host" },
    ...(t.balancer.tls
      ? [{ target: COMPOSE_LB_TLS_PORT, published: t.balancer.tls.port, protocol: "tcp", mode: "host" }]
      : []),
  ];
  services.lb = {
    image: env(SWARM_ENV.image("lb")),
    hostname: "lb",
    command: [
      "/bin/sh",
      `${CONTAINER.nginxConfigDir}/entry.sh`,
      `${CONTAINER.nginxConfigDir}/nginx.conf`,
      ...appNodeNames(t),
    ],
    configs: [
      config(NGINX_CONF_PATH, `${CONTAINER.nginxConfigDir}/nginx.conf`),
      config(LB_ENTRY_PATH, `${CONTAINER.nginxConfigDir}/entry.sh`, 0o555),
    ],
    ports,
    networks: network,
    healthcheck: {
      test: HEALTHCHECK.lb,
      ...HEALTH_TIMING,
    },
    stop_grace_period: "10s",
    labels: labels(t, "lb", "balancer"),
    deploy: deploy("lb", { role: "balancer" }),
  };

  return {
    version: "3.9",
    services,
    networks: {
      backend: {
        driver: "overlay",
        // attachable: phpcluster's reads from inside the network (a one-off container) join it
        attachable: true,
        ...(t.swarm.encrypted ? { driver_opts: { encrypted: "" } } : {}),
        ipam: { config: [{ subnet: swarmSubnet(t) }] },
        labels: { "io.phpcluster.cluster": t.name },
      },
    },
    configs,
    secrets: { probe: { name: env(SWARM_ENV.secretName), file: "../secret" } },
  };
}

export function renderStackFile(t: Topology, files: Map<string, string>): string {
  const body = stringify(swarmStack(t, files), { lineWidth: 0, aliasDuplicateObjects: false });
  return [
    `# Rendered by phpcluster for cluster "${t.name}" (swarm runtime): do not edit; change the topology and run \`phpcluster render\`.`,
    "# `phpcluster create` deploys it with `docker stack deploy`; it sets the PHPCLUSTER_* variables (images, hosts, replicas).",
    body,
  ].join("\n");
}
