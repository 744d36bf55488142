import { parseDuration } from "./duration.js";
import type { ParsedTopology } from "./schema.js";

export type Strategy = "sticky" | "round-robin" | "least-conn";
export type RuntimeName = "compose" | "native" | "swarm";
export type RuntimeChoice = RuntimeName | "auto";
export type IniMap = Record<string, string>;

export interface TlsSettings {
  port: number;
  /** Paths as written (relative to the topology file); both or neither (a development certificate). */
  certificate: string | undefined;
  key: string | undefined;
  hsts: boolean;
}

/** The normalised topology: every default filled, durations in milliseconds, ini values as text. */
export interface Topology {
  name: string;
  runtime: RuntimeChoice;
  balancer: {
    port: number;
    bind: string;
    strategy: Strategy;
    connectTimeoutMs: number;
    readTimeoutMs: number;
    maxFails: number;
    failTimeoutMs: number;
    /** The cookie `sticky` hashes on: balancer.stickyCookie, else sessions.name. */
    stickyCookie: string;
    /** HTTPS at the balancer, when on. */
    tls: TlsSettings | undefined;
  };
  app: {
    replicas: number;
    root: string;
    ini: IniMap;
    extensions: string[];
    nodes: Record<string, { ini: IniMap }>;
  };
  sessions: {
    name: string;
    lifetime: number;
    locking: boolean;
    lockExpireMs: number;
    replicas: number;
    cookie: { secure: boolean; httpOnly: boolean; sameSite: "Strict" | "Lax" | "None" };
  };
  memcached: { nodes: number; memory: number };
  images: { base: string; registry: string };
  swarm: { encrypted: boolean };
}

export type NodeRole = "balancer" | "app" | "memcached";

export interface NodeInfo {
  name: string;
  role: NodeRole;
}

export function appNodeNames(t: { app: { replicas: number } }): string[] {
  return Array.from({ length: t.app.replicas }, (_, i) => `app${i + 1}`);
}

export function memcachedNodeNames(t: { memcached: { nodes: number } }): string[] {
  return Array.from({ length: t.memcached.nodes }, (_, i) => `memcached${i + 1}`);
}

/** Every node in start order: memcached first, then the app nodes, the balancer last. */
export function clusterNodes(t: Topology): NodeInfo[] {
  return [
    ...memcachedNodeNames(t).map((name) => ({ name, role: "memcached" as const })),
    ...appNodeNames(t).map((name) => ({ name, role: "app" as const })),
    { name: "lb", role: "balancer" as const },
  ];
}

function iniText(value: string | number | boolean): string {
  if (typeof value === "boolean") return value ? "On" : "Off";
  return String(value);
}

function iniMap(map: Record<string, string | number | boolean>): IniMap {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, iniText(v)]));
}

function ms(text: string): number {
  const value = parseDuration(text);
  if (value === undefined) throw new Error(`unvalidated duration ${text}`);
  return value;
}

function tlsOf(tls: ParsedTopology["balancer"]["tls"]): TlsSettings | undefined {
  if (tls === undefined || tls === false) return undefined;
  if (tls === true) return { port: 8443, certificate: undefined, key: undefined, hsts: false };
  return { port: tls.port, certificate: tls.certificate, key: tls.key, hsts: tls.hsts };
}

/** Pure: the schema's output (already validated) to the normalised shape the renderers use. */
export function normalizeTopology(p: ParsedTopology): Topology {
  return {
    name: p.name,
    runtime: p.runtime,
    balancer: {
      port: p.balancer.port,
      bind: p.balancer.bind,
      strategy: p.balancer.strategy,
      connectTimeoutMs: ms(p.balancer.connectTimeout),
      readTimeoutMs: ms(p.balancer.readTimeout),
      maxFails: p.balancer.maxFails,
      failTimeoutMs: ms(p.balancer.failTimeout),
      stickyCookie: p.balancer.stickyCookie ?? p.sessions.name,
      tls: tlsOf(p.balancer.tls),
    },
    app: {
      replicas: p.app.replicas,
      root: p.app.root,
      ini: iniMap(p.app.ini),
      extensions: [...p.app.extensions],
      nodes: Object.fromEntries(
        Object.entries(p.app.nodes).map(([node, o]) => [node, { ini: iniMap(o.ini) }]),
      ),
    },
    sessions: {
      name: p.sessions.name,
      lifetime: p.sessions.lifetime,
      locking: p.sessions.locking,
      lockExpireMs: ms(p.sessions.lockExpire),
      replicas: p.sessions.replicas,
      cookie: { ...p.sessions.cookie },
    },
    memcached: { ...p.memcached },
    images: { ...p.images },
    swarm: { ...p.swarm },
  };
}
