import http from "node:http";
import https from "node:https";
import { CookieJar } from "tough-cookie";
import { PROBE_PATH, PROBE_SECRET_HEADER } from "../render/index.js";

export interface ProbeBody {
  node?: string;
  sessionId?: string;
  counter?: number;
  nonce?: string | null;
  pid?: number;
  lockWaitMs?: number;
  saveHandler?: string;
  savePath?: string;
  error?: string;
}

export interface ProbeReply {
  status: number;
  /** From the X-Served-By header (present even on errors of the app node). */
  servedBy: string | undefined;
  body: ProbeBody;
  ms: number;
  /** Set when the request did not get an HTTP answer at all. */
  error?: string;
}

export interface Endpoint {
  scheme?: "http" | "https";
  host: string;
  port: number;
  /** HTTPS: the CA to trust (the development CA); without one the certificate is not checked. */
  ca?: string | undefined;
}

/**
 * One user's session through the balancer: a cookie jar (tough-cookie), requests to the probe
 * endpoint with the cluster's secret, a new connection per request (as a browser after a failure).
 */
export class SessionClient {
  readonly jar = new CookieJar();
  private readonly base: string;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly secret: string,
    private readonly cookieName: string,
    private readonly timeoutMs = 35_000,
    /** Ctrl-C: every request in flight ends at once (a probe then answers status 0). */
    private readonly signal?: AbortSignal | undefined,
    /** Told of every probe's reply, with its performance.now() when it was sent (a scenario's timeline). */
    private readonly onReply?: (reply: ProbeReply, sentAt: number) => void,
  ) {
    const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
    this.base = `${endpoint.scheme ?? "http"}://${host}:${endpoint.port}`;
  }

  /** The session id the jar holds, if any. */
  sessionId(): string | undefined {
    return this.jar.getCookiesSync(`${this.base}/`).find((c) => c.key === this.cookieName)?.value;
  }

  private query(params: Record<string, string | number | undefined>): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
    const text = q.toString();
    return text ? `${PROBE_PATH}?${text}` : PROBE_PATH;
  }

  private request(
    path: string,
    onResponse: (res: http.IncomingMessage, t0: number) => void,
    onError: (e: Error, t0: number) => void,
  ) {
    const url = `${this.base}${path}`;
    const t0 = performance.now();
    const tls = this.endpoint.scheme === "https";
    const request = tls ? https.request : http.request;
    const req = request(
      {
        ...(tls ? { ca: this.endpoint.ca, rejectUnauthorized: this.endpoint.ca !== undefined } : {}),
        host: this.endpoint.host,
        port: this.endpoint.port,
        path,
        method: "GET",
        agent: false,
        timeout: this.timeoutMs,
        ...(this.signal ? { signal: this.signal } : {}),
        headers: {
          [PROBE_SECRET_HEADER]: this.secret,
          Cookie: this.jar.getCookieStringSync(url),
          Connection: "close",
        },
      },
      (res) => {
        for (const c of [res.headers["set-cookie"] ?? []].flat()) {
          try {
            this.jar.setCookieSync(c, url);
          } catch {}
        }
        onResponse(res, t0);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
    req.on("error", (e) => onError(e, t0));
    req.end();
    return req;
  }

  /** One request to the probe: increments the session counter (and stores a nonce when given). */
  probe(params: { nonce?: string; pad?: number } = {}): Promise<ProbeReply> {
    return new Promise<ProbeReply>((answer) => {
      const sentAt = performance.now();
      const resolve = (reply: ProbeReply) => {
        this.onReply?.(reply, sentAt);
        answer(reply);
      };
      this.request(
        this.query({ nonce: params.nonce, pad: params.pad }),
        (res, t0) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d) => {
            text += d;
          });
          res.on("error", (e) =>
            resolve({
              status: 0,
              servedBy: undefined,
              body: {},
              ms: performance.now() - t0,
              error: e.message,
            }),
          );
          res.on("end", () => {
            let body: ProbeBody = {};
            try {
              body = JSON.parse(text) as ProbeBody;
            } catch {}
            const servedBy = res.headers["x-served-by"];
            resolve({
              status: res.statusCode ?? 0,
              servedBy: typeof servedBy === "string" ? servedBy : body.node,
              body,
              ms: performance.now() - t0,
            });
          });
        },
        (e, t0) =>
          resolve({ status: 0, servedBy: undefined, body: {}, ms: performance.now() - t0, error: e.message }),
      );
    });
  }

  /**
   * A request that holds the session lock for `holdMs`; resolves `holding` as soon as the app node
   * announces it holds the lock (with the node's name), and `done` when the request ends or breaks.
   */
  holdLock(holdMs: number): { holding: Promise<ProbeBody>; done: Promise<void> } {
    let announce!: (b: ProbeBody) => void;
    let fail!: (e: Error) => void;
    const holding = new Promise<ProbeBody>((res, rej) => {
      announce = res;
      fail = rej;
    });
    const done = new Promise<void>((resolveDone) => {
      this.request(
        this.query({ hold: holdMs, announce: 1 }),
        (res) => {
          let buffer = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            buffer += d;
            const line = buffer.split("\n")[0];
            if (buffer.includes("\n") && line) {
              try {
                announce(JSON.parse(line) as ProbeBody);
              } catch (e) {
                fail(e as Error);
              }
            }
          });
          res.on("error", () => resolveDone());
          res.on("close", () => {
            fail(new Error(`the holding request ended without announcing (HTTP ${res.statusCode})`));
            resolveDone();
          });
        },
        (e) => {
          fail(e);
          resolveDone();
        },
      );
    });
    return { holding, done };
  }
}
