import type { NodeRole } from "../topology/index.js";

/** Where the rendered files go, relative to the render directory (drivers read them without loading the renderers). */
export type RenderTarget = "native" | "compose" | "swarm";

/** What the runtime drivers read back from `cluster.json`. */
export interface ClusterManifest {
  name: string;
  target: RenderTarget;
  /** In start order: memcached nodes, app nodes, the balancer. */
  nodes: { name: string; role: NodeRole; host: string; port: number; files: string[] }[];
  balancer: { bind: string; port: number };
}

export const MANIFEST_PATH = "cluster.json";
export const COMPOSE_FILE_PATH = "docker-compose.yml";
export const NGINX_CONF_PATH = "nginx/nginx.conf";
export const httpdConfPath = (node: string) => `${node}/httpd.conf`;
export const phpIniPath = (node: string) => `${node}/php.ini`;
export const PROBE_FILES = ["probe/health.php", "probe/probe.php"] as const;
export const dockerfilePath = (role: "app" | "lb" | "memcached") => `images/${role}/Dockerfile`;

/** The balancer's TLS files in `<state>/tls/` (made or copied by create, not rendered). */
export const TLS_FILES = { certificate: "cert.pem", key: "key.pem" } as const;
