import http from "node:http";
import https from "node:https";
import { CookieJar } from "tough-cookie";

export interface Page {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The raw Set-Cookie headers of this answer. */
  setCookies: string[];
}

/**
 * A small browser for end-to-end tests of real applications: one cookie jar (secure cookies only
 * over HTTPS, as a browser keeps them), GET and form POST, redirects left to the test to follow
 * (so it can look at Location), HTTPS trusting a given CA.
 */
export class Browser {
  readonly jar = new CookieJar();

  constructor(private readonly opts: { ca?: string; userAgent?: string } = {}) {}

  request(
    url: string,
    init: { method?: "GET" | "POST"; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<Page> {
    const target = new URL(url);
    const body = init.form ? new URLSearchParams(init.form).toString() : undefined;
    const secure = target.protocol === "https:";
    const headers: Record<string, string> = {
      "User-Agent": this.opts.userAgent ?? "phpcluster-e2e-browser",
      Accept: "text/html,application/json",
      Cookie: this.jar.getCookieStringSync(url),
      Connection: "close",
      ...(body
        ? {
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": String(Buffer.byteLength(body)),
          }
        : {}),
      ...init.headers,
    };
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(
        {
          host: target.hostname.replace(/^\[|\]$/g, ""),
          port: target.port,
          path: `${target.pathname}${target.search}`,
          method: init.method ?? "GET",
          headers,
          agent: false,
          timeout: 30_000,
          ...(secure
            ? { ca: this.opts.ca, servername: target.hostname === "127.0.0.1" ? undefined : target.hostname }
            : {}),
        },
        (res) => {
          const setCookies = [res.headers["set-cookie"] ?? []].flat();
          for (const c of setCookies) this.jar.setCookieSync(c, url);
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d) => {
            text += d;
          });
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, setCookies }),
          );
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer from ${url} within 30 s`)));
      req.on("error", reject);
      if (body) req.write(body);
      req.end();
    });
  }

  get(url: string, headers: Record<string, string> = {}): Promise<Page> {
    return this.request(url, { headers });
  }

  post(url: string, form: Record<string, string>): Promise<Page> {
    return this.request(url, { method: "POST", form });
  }
}
