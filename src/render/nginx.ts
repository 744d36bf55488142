import { appNodeNames, formatDuration, type Topology } from "../topology/index.js";
import { hostPort } from "./addresses.js";
import { renderTemplate } from "./templates.js";

export interface NginxView {
  target: "native" | "compose";
  /** host:port of every app node, by node name. */
  apps: Record<string, string>;
  listen: string;
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

export function nativeNginxView(t: Topology, apps: Record<string, string>, drained: string[]): NginxView {
  return {
    target: "native",
    apps,
    listen: hostPort(t.balancer.bind, t.balancer.port),
    pid: "run/nginx.pid",
    errorLog: "logs/error.log",
    accessLog: "logs/access.log",
    tempPaths: NATIVE_TEMP_PATHS,
    statusAllow: statusAllowList(t.balancer.bind),
    drained,
  };
}

export function composeNginxView(apps: Record<string, string>, drained: string[]): NginxView {
  return {
    target: "compose",
    apps,
    listen: "80",
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
        method: `hash $cookie_${t.sessions.name} consistent`,
        notes: [
          "sticky: a consistent hash of the session cookie. OSS nginx before 1.29.6 has no `sticky`",
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

export function renderNginx(t: Topology, view: NginxView): string {
  const { method: line, notes } = method(t);
  const servers = appNodeNames(t).map((node) => {
    const address = view.apps[node];
    if (address === undefined) throw new Error(`no address for app node ${node}`);
    return { node, address, down: view.drained.includes(node) };
  });
  return renderTemplate("nginx/nginx.conf.liquid", {
    cluster: t.name,
    target: view.target,
    pid: view.pid,
    errorLog: view.errorLog,
    accessLog: view.accessLog,
    tempPaths: view.tempPaths,
    sessionName: t.sessions.name,
    upstreamNotes: view.target === "compose" ? COMPOSE_NOTES : NATIVE_NOTES,
    methodNotes: notes,
    method: line,
    servers,
    maxFails: t.balancer.maxFails,
    failTimeout: formatDuration(t.balancer.failTimeoutMs),
    listen: view.listen,
    connectTimeout: formatDuration(t.balancer.connectTimeoutMs),
    readTimeout: formatDuration(t.balancer.readTimeoutMs),
    tries: Math.max(2, Math.min(t.app.replicas, 3)),
    statusAllow: view.statusAllow,
  });
}
