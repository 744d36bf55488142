import http from "node:http";

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
