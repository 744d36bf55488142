import http from "node:http";
import { expect } from "vitest";

/**
 * The tests' own read-modify-write load (not phpcluster's): sessions of ~1 KB through the
 * balancer's probe endpoint; each request reads a session's counter and writes it back
 * incremented. It knows each session's last written value, so every answer is ok, empty (a new
 * session, or the marker gone), stale (older than the last write) or failed (not 200). One request
 * per session at a time.
 */
export interface Counts {
  requests: number;
  ok: number;
  empty: number;
  stale: number;
  failed: number;
}

interface S {
  cookie: string;
  id: string;
  marker: string;
  counter: number;
  busy: boolean;
}

export class TestLoad {
  counts: Counts = { requests: 0, ok: 0, empty: 0, stale: 0, failed: 0 };
  readonly problems: string[] = [];
  private sessions: S[] = [];
  private workers: Promise<void>[] = [];
  private stopped = false;

  constructor(
    private readonly port: number,
    private readonly secret: string,
    private readonly opts: { sessions: number; concurrency: number; pad: number } = {
      sessions: 1000,
      concurrency: 8,
      pad: 1024,
    },
  ) {}

  private request(
    s: Partial<S>,
    query: string,
  ): Promise<{ status: number; body: Record<string, unknown>; setCookie?: string }> {
    return new Promise((resolve) => {
      const req = http.get(
        {
          host: "127.0.0.1",
          port: this.port,
          path: `/.phpcluster/probe.php${query}`,
          agent: false,
          timeout: 30_000,
          headers: {
            "X-Phpcluster-Secret": this.secret,
            Connection: "close",
            ...(s.cookie ? { Cookie: s.cookie } : {}),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d) => {
            text += d;
          });
          res.on("end", () => {
            let body: Record<string, unknown> = {};
            try {
              body = JSON.parse(text) as Record<string, unknown>;
            } catch {}
            const setCookie = [res.headers["set-cookie"] ?? []].flat()[0]?.split(";")[0];
            resolve({ status: res.statusCode ?? 0, body, ...(setCookie ? { setCookie } : {}) });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve({ status: 0, body: {} }));
    });
  }

  async open(): Promise<void> {
    const todo = Array.from({ length: this.opts.sessions }, (_, i) => i);
    const worker = async () => {
      for (let i = todo.shift(); i !== undefined; i = todo.shift()) {
        const marker = `m${i}x${Math.random().toString(36).slice(2, 10)}`;
        const r = await this.request({}, `?nonce=${marker}&pad=${this.opts.pad}`);
        if (r.status !== 200 || !r.setCookie) throw new Error(`opening session ${i}: HTTP ${r.status}`);
        this.sessions.push({
          cookie: r.setCookie,
          id: String(r.body.sessionId),
          marker,
          counter: Number(r.body.counter),
          busy: false,
        });
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency }, worker));
  }

  private async hit(s: S, into: Counts): Promise<void> {
    s.busy = true;
    const r = await this.request(s, "");
    s.busy = false;
    into.requests++;
    if (r.status !== 200) {
      into.failed++;
      if (this.problems.length < 10) this.problems.push(`HTTP ${r.status} ${String(r.body.error ?? "")}`);
      return;
    }
    const counter = Number(r.body.counter);
    if (r.body.sessionId !== s.id || r.body.nonce !== s.marker) {
      into.empty++;
      if (this.problems.length < 10) this.problems.push(`${s.id.slice(0, 8)} empty`);
    } else if (counter !== s.counter + 1) {
      if (counter < s.counter + 1) into.stale++;
      if (this.problems.length < 10)
        this.problems.push(`${s.id.slice(0, 8)} read ${counter - 1} after writing ${s.counter}`);
    } else into.ok++;
    s.counter = counter;
  }

  start(): void {
    this.stopped = false;
    let next = 0;
    const worker = async () => {
      while (!this.stopped) {
        const s = this.sessions[next++ % this.sessions.length] as S;
        if (s.busy) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        await this.hit(s, this.counts);
      }
    };
    this.workers = Array.from({ length: this.opts.concurrency }, worker);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
  }

  /** Every session read once more: what is lost for good. */
  async check(): Promise<Counts> {
    const end: Counts = { requests: 0, ok: 0, empty: 0, stale: 0, failed: 0 };
    const todo = [...this.sessions];
    const worker = async () => {
      for (let s = todo.shift(); s !== undefined; s = todo.shift()) await this.hit(s, end);
    };
    await Promise.all(Array.from({ length: this.opts.concurrency }, worker));
    return end;
  }
}

export interface Settled {
  during: Counts;
  end: Counts;
  problems: string[];
}

/** Stop the load; its counts since the last call and a final read of every session, then reset. */
export async function settle(load: TestLoad): Promise<Settled> {
  await load.stop();
  const during = { ...load.counts };
  const end = await load.check();
  const problems = [...load.problems];
  load.counts = { requests: 0, ok: 0, empty: 0, stale: 0, failed: 0 };
  load.problems.length = 0;
  return { during, end, problems };
}

/**
 * No session and no update lost: nothing read empty or older than its last write, during the
 * load or in the final read. `failedAtMost`: the requests that may fail (a killed memcached may
 * fail the requests in flight on it, at most the load's 8 per kill, when the retry on another app
 * node fails too). However many fail (hung nodes: requests to them time out), it may not turn into
 * an outage: the final read of every session must succeed.
 */
export function expectNoLoss(r: Settled, opts: { minRequests: number; failedAtMost?: number }): void {
  const why = JSON.stringify(r);
  expect(r.during.requests, why).toBeGreaterThan(opts.minRequests);
  expect(r.during.empty, why).toBe(0);
  expect(r.during.stale, why).toBe(0);
  expect(r.during.failed, why).toBeLessThanOrEqual(opts.failedAtMost ?? Number.POSITIVE_INFINITY);
  expect(r.end, why).toEqual({ requests: 1000, ok: 1000, empty: 0, stale: 0, failed: 0 });
}
