import http from "node:http";
import net from "node:net";

export interface HttpGetOptions {
  host: string;
  port: number;
  path: string;
  headers?: Record<string, string>;
  timeoutMs: number;
}

export interface HttpGetReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One HTTP GET without keep-alive, bounded by timeoutMs. Rejects on connection errors. */
export function httpGet(opts: HttpGetOptions): Promise<HttpGetReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: opts.host,
        port: opts.port,
        path: opts.path,
        method: "GET",
        headers: { Connection: "close", ...opts.headers },
        agent: false,
        timeout: opts.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = String(v);
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`no answer from ${opts.host}:${opts.port} within ${opts.timeoutMs} ms`)),
    );
    req.on("error", reject);
    req.end();
  });
}

/** Does memcached answer `version`? */
export function memcachedVersion(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let data = "";
    const timer = setTimeout(
      () => socket.destroy(new Error(`no answer from memcached ${host}:${port}`)),
      timeoutMs,
    );
    socket.on("connect", () => socket.write("version\r\n"));
    socket.on("data", (d) => {
      data += d.toString("utf8");
      if (data.includes("\r\n")) {
        clearTimeout(timer);
        socket.end();
        if (data.startsWith("VERSION ")) resolve(data.slice(8).trim());
        else reject(new Error(`unexpected memcached reply: ${data.trim()}`));
      }
    });
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export class WaitTimeoutError extends Error {}

/**
 * Poll `check` until it resolves true, bounded by timeoutMs; the last failure is kept for the
 * message. Aborts promptly on `signal`.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal | undefined },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = "";
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) {
      throw new WaitTimeoutError(
        `${what} did not happen within ${opts.timeoutMs} ms${last ? ` (last error: ${last})` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}
