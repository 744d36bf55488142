import type Memcached from "memcached";
import type { NodeReading } from "../driver.js";
import type { LauncherStatus } from "../memcached/launcher.js";

/**
 * The one way phpcluster speaks to Memcached from the host: the `memcached` client, one client
 * per call and server, no retries, so a dead node is an error and never a silent miss. (Inside a
 * container network the compose driver uses its in-container helper instead.)
 */
async function withClient<T>(
  host: string,
  port: number,
  timeoutMs: number,
  work: (client: Memcached, done: (err: unknown, value?: T) => void) => void,
): Promise<T> {
  const { default: MemcachedClient } = await import("memcached"); // loaded by the commands that read keys
  const location = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const client = new MemcachedClient(location, {
    timeout: timeoutMs,
    retries: 0,
    failures: 0,
    retry: 0,
    idle: 0,
    // without `remove`, a failed server is re-checked by spawning the `ping` program
    remove: true,
  });
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () => done(new Error(`no answer from memcached ${location} within ${timeoutMs} ms`)),
      timeoutMs + 500,
    );
    const done = (err: unknown, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end();
      if (err) {
        const first = Array.isArray(err) ? err[0] : err;
        reject(first instanceof Error ? first : new Error(`memcached ${location}: ${String(first)}`));
      } else resolve(value as T);
    };
    work(client, done);
  });
}

const text = (data: unknown) => (Buffer.isBuffer(data) ? data.toString("utf8") : String(data));

/** The server's version: the health check of a Memcached node. */
export function memcachedVersion(host: string, port: number, timeoutMs = 2000): Promise<string> {
  return withClient<string>(host, port, timeoutMs, (client, done) =>
    client.version((err, versions) => {
      const v = versions?.[0]?.version;
      if (err || !v) done(err ?? new Error("memcached gave no version"));
      else done(undefined, v);
    }),
  );
}

/** Read keys from one server: the ones it holds, with their values (one round trip). */
export function memcachedGetMulti(
  host: string,
  port: number,
  keys: string[],
  timeoutMs = 2000,
): Promise<Record<string, string>> {
  if (keys.length === 0) return Promise.resolve({});
  return withClient<Record<string, string>>(host, port, timeoutMs, (client, done) =>
    client.getMulti(keys, (err, data) => {
      if (err) return done(err);
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(data ?? {})) {
        if (v !== undefined && v !== null && v !== false) out[k] = text(v);
      }
      done(undefined, out);
    }),
  );
}

/**
 * A memcached node's reading with what its launcher says (read by each runtime its own way: a
 * file, or the status key): its items and last return, and a node still warming (its port open,
 * the sessions' locks not yet handed over) is unhealthy, not running.
 */
export function withLauncherStatus(
  reading: NodeReading,
  status: Pick<LauncherStatus, "state"> & Partial<Pick<LauncherStatus, "items" | "lastRecovery">>,
): void {
  if (typeof status.items === "number") reading.items = status.items;
  if (status.lastRecovery) reading.recovery = status.lastRecovery;
  reading.warming = status.state === "warming";
  if (reading.warming && reading.state === "running") {
    reading.state = "unhealthy";
    reading.detail = "warming: filling from its peers";
  }
}
