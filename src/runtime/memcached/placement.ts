/**
 * Where php-memcached's session handler puts a key: libmemcached's non-weighted ketama
 * (memcached.sess_consistent_hash = On, the default "ketama" type), with its default hash
 * (Jenkins one-at-a-time) for both the continuum and the key, 100 points per server, server
 * names as written in session.save_path ("host-i" when the port is 11211, else "host:port-i"),
 * and replicas on the next server indexes (libmemcached's replication). The key hashed is the
 * session id without the sess_prefix namespace; the lock key is "lock.<id>".
 *
 * Dependency-free (node: modules only): the memcached launcher runs it inside images too.
 */

const POINTS_PER_SERVER = 100;
const DEFAULT_PORT = 11211;

/** libhashkit's one_at_a_time over the bytes (signed chars, as on x86). */
export function oneAtATime(text: string): number {
  let value = 0;
  for (const byte of Buffer.from(text, "utf8")) {
    const c = byte > 127 ? byte - 256 : byte;
    value = (value + (c >>> 0)) >>> 0;
    value = (value + (value << 10)) >>> 0;
    value = (value ^ (value >>> 6)) >>> 0;
  }
  value = (value + (value << 3)) >>> 0;
  value = (value ^ (value >>> 11)) >>> 0;
  value = (value + (value << 15)) >>> 0;
  return value;
}

export interface Server {
  host: string;
  port: number;
}

export function parseServer(text: string): Server {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!m?.[1] || !m[2]) return { host: text, port: DEFAULT_PORT };
  return { host: m[1], port: Number(m[2]) };
}

interface Point {
  value: number;
  index: number;
}

/** The continuum over the live servers (indexes into the full list), sorted by value. */
export function continuum(servers: Server[], live: boolean[] = servers.map(() => true)): Point[] {
  const points: Point[] = [];
  servers.forEach((s, index) => {
    if (!live[index]) return;
    for (let i = 0; i < POINTS_PER_SERVER; i++) {
      const name = s.port === DEFAULT_PORT ? `${s.host}-${i}` : `${s.host}:${s.port}-${i}`;
      points.push({ value: oneAtATime(name), index });
    }
  });
  // qsort by value; equal values keep an order that does not matter for lookups of other values
  return points.sort((a, b) => a.value - b.value || a.index - b.index);
}

/** The server index a hashed key goes to: the first point at or after its hash, wrapping around. */
export function lookup(points: Point[], hash: number): number {
  let left = 0;
  let right = points.length;
  while (left < right) {
    const middle = left + Math.floor((right - left) / 2);
    if ((points[middle] as Point).value < hash) left = middle + 1;
    else right = middle;
  }
  return (points[right === points.length ? 0 : right] as Point).index;
}

/** The servers (indexes) holding a key: its primary, then `replicas` next indexes. */
export function homeOf(
  key: string,
  servers: Server[],
  replicas: number,
  points = continuum(servers),
): number[] {
  const primary = lookup(points, oneAtATime(key));
  const home = [primary];
  for (let r = 1; r <= Math.min(replicas, servers.length - 1); r++) home.push((primary + r) % servers.length);
  return home;
}
