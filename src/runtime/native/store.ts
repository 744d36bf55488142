/**
 * Read one key from one Memcached server with the `memcached` client. One client per call and
 * server, no retries: a dead node is an error, not a silent miss.
 */
export async function readKey(
  host: string,
  port: number,
  key: string,
  timeoutMs = 2000,
): Promise<string | undefined> {
  const { default: Memcached } = await import("memcached"); // only failover and verify read keys
  const location = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const client = new Memcached(location, {
    timeout: timeoutMs,
    retries: 0,
    failures: 0,
    retry: 0,
    idle: 0,
    // without `remove`, a failed server is re-checked by spawning the `ping` program
    remove: true,
  });
  return new Promise<string | undefined>((resolve, reject) => {
    client.get(key, (err: unknown, data: unknown) => {
      client.end();
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else if (data === undefined || data === false || data === null) resolve(undefined);
      else resolve(Buffer.isBuffer(data) ? data.toString("utf8") : String(data));
    });
  });
}
