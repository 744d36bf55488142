import { appNodeNames, formatDuration, type Topology } from "../topology/index.js";
import { hostPort } from "./addresses.js";
import { TLS_FILES } from "./paths.js";
import { renderTemplate } from "./templates.js";

export interface NginxView {
  target: "native" | "compose" | "swarm";
  /** host:port of every app node, by node name. */
  apps: Record<string, string>;
  /** With TLS: host:port where each app node takes the requests that came in over HTTPS. */
  httpsApps: Record<string, string>;
  listen: string;
  /** With TLS: where the balancer serves HTTPS, and its certificate and key. */
  tls: { listen: string; certificate: string; key: string } | undefined;
  pid: string;
  errorLog: string;
  accessLog: string;
  tempPaths: { directive: string; path: string }[];
  statusAllow: string[];
  drained: string[];
}

const NATIVE_TEMP_PATHS = [
  { directive: "client_body_temp_path", path: "temp/client_body" },
  { directive: "proxy_temp_path", path: "temp/proxy" },
  { directive: "fastcgi_temp_path", path: "temp/fastcgi" },
  { directive: "uwsgi_temp_path", path: "temp/uwsgi" },
  { directive: "scgi_temp_path", path: "temp/scgi" },
];

const UNSPECIFIED_OR_LOOPBACK = new Set(["0.0.0.0", "::", "127.0.0.1", "::1"]);

/** Addresses allowed to read stub_status: loopback, and the bind address when it is a specific one. */
export function statusAllowList(bind: string | undefined): string[] {
  const allow = ["127.0.0.1", "::1"];
  if (bind !== undefined && !UNSPECIFIED_OR_LOOPBACK.has(bind)) allow.push(bind);
  return allow;
}

export function nativeNginxView(
  t: Topology,
  apps: Record<string, string>,
  httpsApps: Record<string, string>,
  drained: string[],
): NginxView {
  return {
    target: "native",
    apps,
    httpsApps,
    listen: hostPort(t.balancer.bind, t.balancer.port),
    // relative paths of ssl_certificate resolve against the directory of nginx.conf (native/nginx/)
    tls: t.balancer.tls
      ? {
          listen: hostPort(t.balancer.bind, t.balancer.tls.port),
          certificate: `../../tls/${TLS_FILES.certificate}`,
          key: `../../tls/${TLS_FILES.key}`,
        }
      : undefined,
    pid: "run/nginx.pid",
    errorLog: "logs/error.log",
    accessLog: "logs/access.log",
    tempPaths: NATIVE_TEMP_PATHS,
    statusAllow: statusAllowList(t.balancer.bind),
    drained,
  };
}

export function composeNginxView(
  t: Topology,
  apps: Record<string, string>,
  httpsApps: Record<string, string>,
  drained: string[],
): NginxView {
  return {
    target: "compose",
    apps,
    httpsApps,
    listen: "80",
    tls: t.balancer.tls
      ? {
          listen: "443",
          certificate: `/etc/phpcluster/tls/${TLS_FILES.certificate}`,
          key: `/etc/phpcluster/tls/${TLS_FILES.key}`,
        }
      : undefined,
    pid: "/run/nginx.pid",
    errorLog: "stderr",
    accessLog: "/dev/stdout",
    tempPaths: [],
    statusAllow: statusAllowList(undefined),
    drained,
  };
}

function method(t: Topology): { method: string; notes: string[] } {
  switch (t.balancer.strategy) {
    case "sticky":
      return {
        method: `hash $cookie_${t.balancer.stickyCookie} consistent`,
        notes: [
          `sticky: a consistent hash of the cookie ${t.balancer.stickyCookie}. OSS nginx before 1.29.6 has no \`sticky\``,
          "directive (Debian ships 1.22 and 1.26). A request without the cookie (the first one of a",
          "session) has an empty key and falls back to round robin; the session itself lives in Memcached.",
        ],
      };
    case "least-conn":
      return {
        method: "least_conn",
        notes: ["least-conn: the app node with the fewest active connections."],
      };
    case "round-robin":
      return { method: "", notes: ["round-robin: nginx's default method."] };
  }
}

const COMPOSE_NOTES = [
  "App nodes are addressed by static IPs on the internal `backend` network, not by service name:",
  "Debian's nginx (1.22, 1.26) has no `resolve` on upstream servers, so a name is resolved once at",
  "start-up. nginx would refuse to start while an app container is down, and would keep a stale",
  "address once a container is recreated. Pinned IPs avoid both.",
];
const NATIVE_NOTES = ["App nodes are Apache instances on loopback ports."];

/** Where an upstream server list comes from: the nodes' addresses, drained ones marked down. */
function upstreamServers(t: Topology, addresses: Record<string, string>, drained: string[]) {
  return appNodeNames(t).map((node) => {
    const address = addresses[node];
    if (address === undefined) throw new Error(`no address for app node ${node}`);
    return { node, address, down: drained.includes(node) };
  });
}

export function renderNginx(t: Topology, view: NginxView): string {
  const { method: line, notes } = method(t);
  const tls = t.balancer.tls;
  const redirectPort = tls && tls.port !== 443 ? `:${tls.port}` : "";
  return renderTemplate("nginx/nginx.conf.liquid", {
    cluster: t.name,
    target: view.target,
    pid: view.pid,
    errorLog: view.errorLog,
    accessLog: view.accessLog,
    tempPaths: view.tempPaths,
    sessionName: t.balancer.stickyCookie,
    upstreamNotes: view.target === "compose" ? COMPOSE_NOTES : NATIVE_NOTES,
    methodNotes: notes,
    method: line,
    servers: upstreamServers(t, view.apps, view.drained),
    httpsServers: tls ? upstreamServers(t, view.httpsApps, view.drained) : [],
    maxFails: t.balancer.maxFails,
    failTimeout: formatDuration(t.balancer.failTimeoutMs),
    listen: view.listen,
    httpPort: t.balancer.port,
    tls: view.tls ? { ...view.tls, port: tls?.port ?? 0, hsts: tls?.hsts ?? false, redirectPort } : false,
    connectTimeout: formatDuration(t.balancer.connectTimeoutMs),
    readTimeout: formatDuration(t.balancer.readTimeoutMs),
    tries: Math.max(2, Math.min(t.app.replicas, 3)),
    statusAllow: view.statusAllow,
  });
}
