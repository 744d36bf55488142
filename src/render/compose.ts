import { stringify } from "yaml";
import { appNodeNames, extensionPackage, memcachedNodeNames, type Topology } from "../topology/index.js";
import {
  COMPOSE_APP_PORT,
  COMPOSE_LB_PORT,
  COMPOSE_LB_TLS_PORT,
  COMPOSE_MEMCACHED_PORT,
  composeAddresses,
  hostPort,
} from "./addresses.js";
import { PROBE_SECRET_ENV } from "./constants.js";
import { CONTAINER_LAUNCHER_DIR, CONTAINER_MEMORY_DIR, composeMemoryDir } from "./memcached.js";
import { renderTemplate } from "./templates.js";

/** Paths inside the app containers. */
export const CONTAINER = {
  serverRoot: "/var/lib/phpcluster",
  configDir: "/etc/phpcluster",
  docroot: "/var/www/app",
  phpModule: "/usr/lib/apache2/modules/libphp.so",
  probeDir: "/opt/phpcluster/probe",
  nginxConfigDir: "/etc/phpcluster/nginx",
  tlsDir: "/etc/phpcluster/tls",
} as const;

const APP_PACKAGES = ["apache2", "libapache2-mod-php", "php-memcached", "curl", "ca-certificates"];
const LB_PACKAGES = ["nginx", "curl"];
const MEMCACHED_PACKAGES = ["memcached", "nodejs"];

export function appPackages(t: Topology): string[] {
  const packages = [...APP_PACKAGES];
  // app.extensions: the Debian packages that provide them (their postinst enables them in conf.d)
  for (const ext of t.app.extensions) {
    const pkg = extensionPackage(ext);
    if (pkg !== undefined && !packages.includes(pkg)) packages.push(pkg);
  }
  return packages;
}

export function renderDockerfiles(t: Topology): Record<"app" | "lb" | "memcached", string> {
  const render = (role: string, packages: string[]) =>
    renderTemplate(`docker/${role}.Dockerfile.liquid`, {
      cluster: t.name,
      base: t.images.base,
      packages: packages.join(" "),
    });
  return {
    app: render("app", appPackages(t)),
    lb: render("lb", LB_PACKAGES),
    memcached: render("memcached", MEMCACHED_PACKAGES),
  };
}

/** Compose interpolates `$VAR` in every string: a literal `$` must be written `$$`. */
function escapeDollars<T>(value: T): T {
  if (typeof value === "string") return value.replaceAll("$", () => "$$") as T;
  if (Array.isArray(value)) return value.map((v) => escapeDollars(v)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDollars(v)])) as T;
  }
  return value;
}

/** A bind-mount source relative to the Compose file: `./x`, `../x` or `/x`, never a bare name. */
export function bindSource(path: string): string {
  const p = path.replace(/\/+$/, "") || "/";
  if (p === "." || p === ".." || p.startsWith("/") || p.startsWith("./") || p.startsWith("../")) return p;
  return `./${p}`;
}

/** Each role's healthcheck command, in its container (compose and swarm). */
export const HEALTHCHECK = {
  // CMD bash, not CMD-SHELL: dash has no /dev/tcp, and the image has no nc or curl.
  memcached: [
    "CMD",
    "bash",
    "-c",
    `exec 3<>/dev/tcp/127.0.0.1/${COMPOSE_MEMCACHED_PORT} && printf 'version\\r\\n' >&3 && head -c 7 <&3 | grep -q VERSION`,
  ],
  app: [
    "CMD",
    "curl",
    "-fsS",
    "-o",
    "/dev/null",
    `http://127.0.0.1:${COMPOSE_APP_PORT}/.phpcluster/health.php`,
  ],
  lb: ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1/.phpcluster/nginx_status"],
};

const HEALTH_TIMING = { interval: "1s", timeout: "2s", retries: 30, start_period: "2s" };

const bind = (source: string, target: string) => ({ type: "bind", source, target, read_only: true });

const labels = (t: Topology, node: string, role: string) => ({
  "io.phpcluster.cluster": t.name,
  "io.phpcluster.node": node,
  "io.phpcluster.role": role,
});

/** The Compose project as data. Exposed for tests; `renderComposeFile` serialises it. */
export function composeProject(t: Topology, rootFromOut: string): Record<string, unknown> {
  const { subnet, nodes: ips } = composeAddresses(t);
  const ip = (node: string) => {
    const address = ips[node];
    if (address === undefined) throw new Error(`no address for node ${node}`);
    return address;
  };
  const image = (role: string) => ({
    build: { context: `./images/${role}` },
    image: `phpcluster-${t.name}-${role}:local`,
  });
  const memcached = memcachedNodeNames(t);
  const apps = appNodeNames(t);
  const services: Record<string, Record<string, unknown>> = {};

  for (const node of memcached) {
    services[node] = {
      ...image("memcached"),
      // the launcher runs memcached: restartable memory, filled from its peers on every start
      // (also when Docker restarts the container by itself), see runtime/memcached/launcher.ts
      command: ["node", `${CONTAINER_LAUNCHER_DIR}/launcher.js`, `${CONTAINER.configDir}/launcher.json`],
      volumes: [
        bind(`./${node}`, CONTAINER.configDir),
        // tmpfs of the host, so that the memory outlives the container (a warm restart)
        { type: "bind", source: `${composeMemoryDir(t)}/${node}`, target: CONTAINER_MEMORY_DIR },
      ],
      // the launcher's graceful stop: it holds the sessions' locks and has memcached save its memory
      stop_signal: "SIGUSR1",
      stop_grace_period: "10s",
      restart: "unless-stopped",
      labels: labels(t, node, "memcached"),
      networks: { backend: { ipv4_address: ip(node) } },
      healthcheck: {
        test: HEALTHCHECK.memcached,
        ...HEALTH_TIMING,
      },
    };
  }

  const run = `${CONTAINER.serverRoot}/run`;
  const logs = `${CONTAINER.serverRoot}/logs`;
  for (const node of apps) {
    services[node] = {
      ...image("app"),
      command: [
        "/bin/sh",
        "-c",
        `rm -rf ${run} && mkdir -p ${run} ${logs} && exec apache2 -d ${CONTAINER.serverRoot} -f ${CONTAINER.configDir}/httpd.conf -DFOREGROUND`,
      ],
      environment: {
        // the distribution's conf.d (the empty entry), then this node's php.ini
        PHP_INI_SCAN_DIR: `:${CONTAINER.configDir}`,
        PHPCLUSTER_NODE: node,
        PHPCLUSTER_DOCROOT: CONTAINER.docroot,
        PHPCLUSTER_PHP_MODULE: CONTAINER.phpModule,
        PHPCLUSTER_PROBE_DIR: CONTAINER.probeDir,
      },
      volumes: [
        bind(bindSource(rootFromOut), CONTAINER.docroot),
        // The node's directory, not its single files: a file replaced by rename stays visible.
        bind(`./${node}`, CONTAINER.configDir),
        bind("./probe", CONTAINER.probeDir),
      ],
      labels: labels(t, node, "app"),
      networks: { backend: { ipv4_address: ip(node) } },
      healthcheck: {
        test: HEALTHCHECK.app,
        ...HEALTH_TIMING,
      },
      depends_on: Object.fromEntries(memcached.map((m) => [m, { condition: "service_healthy" }])),
      stop_signal: "SIGWINCH",
      stop_grace_period: "5s",
    };
  }

  services.lb = {
    ...image("lb"),
    command: ["nginx", "-c", `${CONTAINER.nginxConfigDir}/nginx.conf`],
    volumes: [
      bind("./nginx", CONTAINER.nginxConfigDir),
      // the certificate and key, made or copied by `create` into the state folder (not rendered)
      ...(t.balancer.tls ? [bind("../tls", CONTAINER.tlsDir)] : []),
    ],
    ports: [
      `${hostPort(t.balancer.bind, t.balancer.port)}:${COMPOSE_LB_PORT}`,
      ...(t.balancer.tls ? [`${hostPort(t.balancer.bind, t.balancer.tls.port)}:${COMPOSE_LB_TLS_PORT}`] : []),
    ],
    labels: labels(t, "lb", "balancer"),
    networks: { backend: { ipv4_address: ip("lb") }, frontend: {} },
    healthcheck: {
      test: HEALTHCHECK.lb,
      ...HEALTH_TIMING,
    },
    depends_on: Object.fromEntries(apps.map((a) => [a, { condition: "service_healthy" }])),
  };

  const project = escapeDollars({
    services,
    networks: {
      backend: { internal: true, ipam: { config: [{ subnet }] } },
      frontend: {},
    },
  });
  // The one intended interpolation: the secret comes from the environment of `docker compose`.
  for (const node of apps) {
    const environment = (project.services[node] as { environment: Record<string, string> }).environment;
    environment[PROBE_SECRET_ENV] = `\${${PROBE_SECRET_ENV}:?run phpcluster create}`;
  }
  return project;
}

export function renderComposeFile(t: Topology, rootFromOut: string): string {
  const body = stringify(composeProject(t, rootFromOut), {
    // YAML 1.1 quoting: docker-compose v1 reads the file with PyYAML (yes/no/on/off, 1:2 sexagesimals).
    version: "1.1",
    lineWidth: 0,
  });
  return [
    `# Rendered by phpcluster for cluster "${t.name}": do not edit; change the topology and run \`phpcluster render\`.`,
    "# The project name comes from `-p` (docker-compose v1 rejects a top-level `name:`).",
    body,
  ].join("\n");
}
