import { appNodeNames, memcachedNodeNames, type Topology } from "../topology/index.js";

export interface HostPort {
  host: string;
  port: number;
}

/** Ports inside the containers of the compose runtime. */
export const COMPOSE_APP_PORT = 80;
export const COMPOSE_MEMCACHED_PORT = 11211;
export const COMPOSE_LB_PORT = 80;
/** With TLS: the balancer's HTTPS port in its container, and the app nodes' port for requests that came in over HTTPS. */
export const COMPOSE_LB_TLS_PORT = 443;
export const COMPOSE_APP_HTTPS_PORT = 443;

/**
 * Native runtime: the balancer on `balancer.bind:balancer.port`, app node I on 127.0.0.1:(port+I),
 * Memcached node J on 127.0.0.1:(port+replicas+J).
 */
export function nativeAddresses(t: Topology): Record<string, HostPort> {
  const out: Record<string, HostPort> = {};
  const base = t.balancer.port;
  memcachedNodeNames(t).forEach((name, j) => {
    out[name] = { host: "127.0.0.1", port: base + t.app.replicas + j + 1 };
  });
  appNodeNames(t).forEach((name, i) => {
    out[name] = { host: "127.0.0.1", port: base + i + 1 };
  });
  out.lb = { host: t.balancer.bind, port: base };
  return out;
}

/**
 * Native runtime with TLS: app node I also listens on 127.0.0.1:(port+replicas+memcached+I) for
 * the requests that came in over HTTPS (its virtual host says https and HTTPS=on to PHP).
 */
export function nativeHttpsOriginAddresses(t: Topology): Record<string, HostPort> {
  if (!t.balancer.tls) return {};
  const base = t.balancer.port + t.app.replicas + t.memcached.nodes;
  return Object.fromEntries(
    appNodeNames(t).map((name, i) => [name, { host: "127.0.0.1", port: base + i + 1 }]),
  );
}

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * Compose runtime: one internal network `backend` with a /24 pinned from the cluster name, so two
 * clusters on one engine rarely collide and the same cluster always gets the same addresses.
 * memcachedJ = .(10+J), appI = .(100+I), lb = .250.
 */
export function composeAddresses(t: Topology): { subnet: string; nodes: Record<string, string> } {
  const h = fnv1a32(t.name);
  const prefix = `10.${200 + (h % 50)}.${(h >>> 8) % 256}`;
  const nodes: Record<string, string> = {};
  memcachedNodeNames(t).forEach((name, j) => {
    nodes[name] = `${prefix}.${10 + j + 1}`;
  });
  appNodeNames(t).forEach((name, i) => {
    nodes[name] = `${prefix}.${100 + i + 1}`;
  });
  nodes.lb = `${prefix}.250`;
  return { subnet: `${prefix}.0/24`, nodes };
}

/** `host:port`, with an IPv6 host in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
