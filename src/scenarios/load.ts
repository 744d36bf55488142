import { sleep } from "../runtime/kit/index.js";
import { newClient, randomNonce, type ScenarioContext } from "./context.js";
import type { SessionClient } from "./session-client.js";

/**
 * A read-modify-write load that knows each session's last written version: every request reads
 * a session (the probe's counter) and writes it back incremented, so each answer is classed as
 * ok, empty (the session came back new: another id, or its nonce gone), stale (older than its
 * last write) or failed (no 200).
 */
export interface LoadCounts {
  requests: number;
  ok: number;
  empty: number;
  stale: number;
  failed: number;
  maxMs: number;
}

interface Tracked {
  client: SessionClient;
  nonce: string;
  id: string;
  counter: number;
  /** A request of this session is in flight: the next one waits its turn (else answers would cross). */
  busy: boolean;
}

export class SessionLoad {
  readonly counts: LoadCounts = { requests: 0, ok: 0, empty: 0, stale: 0, failed: 0, maxMs: 0 };
  readonly samples: string[] = [];
  private sessions: Tracked[] = [];
  private running: Promise<void>[] = [];
  private stopped = false;

  constructor(
    private readonly ctx: ScenarioContext,
    private readonly opts: { sessions: number; concurrency: number; pad: number },
  ) {}

  /** Open the sessions (each with its nonce and its pad). */
  async open(): Promise<void> {
    const pending = Array.from({ length: this.opts.sessions }, (_, i) => i);
    const worker = async () => {
      for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
        if (this.ctx.signal?.aborted) return;
        const client = newClient(this.ctx);
        const nonce = randomNonce();
        const r = await client.probe({ nonce, pad: this.opts.pad });
        if (r.status === 200 && r.body.sessionId && r.body.counter !== undefined) {
          this.sessions.push({ client, nonce, id: r.body.sessionId, counter: r.body.counter, busy: false });
        } else this.note(`opening a session: HTTP ${r.status} ${r.error ?? r.body.error ?? ""}`);
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency }, worker));
  }

  get size(): number {
    return this.sessions.length;
  }

  private note(text: string): void {
    if (this.samples.length < 5) this.samples.push(text.trim());
  }

  /** One request of one session, classed. */
  private async hit(s: Tracked, into: LoadCounts): Promise<void> {
    const r = await s.client.probe();
    into.requests++;
    into.maxMs = Math.max(into.maxMs, r.ms);
    if (r.status !== 200 || r.body.counter === undefined) {
      into.failed++;
      this.ctx.recording?.classify(r, "failed");
      this.note(`HTTP ${r.status} ${r.error ?? r.body.error ?? ""} (${r.servedBy ?? "-"})`);
      return;
    }
    const got = r.body.counter;
    if (r.body.sessionId !== s.id || r.body.nonce !== s.nonce) {
      into.empty++;
      this.ctx.recording?.classify(r, "empty");
      this.note(`session ${s.id.slice(0, 8)}… came back empty (counter ${got}, expected ${s.counter + 1})`);
    } else if (got < s.counter + 1) {
      into.stale++;
      this.ctx.recording?.classify(r, "stale");
      this.note(
        `session ${s.id.slice(0, 8)}… read counter ${got - 1}, its last write was ${s.counter} (served by ${r.servedBy ?? "-"})`,
      );
    } else into.ok++;
    s.counter = got;
    if (r.body.sessionId !== s.id) s.id = r.body.sessionId ?? s.id;
  }

  /** Keep every session busy, round robin over them, until stop(). */
  start(): void {
    let next = 0;
    const worker = async () => {
      while (!this.stopped && !this.ctx.signal?.aborted && this.sessions.length > 0) {
        const s = this.sessions[next++ % this.sessions.length] as Tracked;
        if (s.busy) {
          if (this.sessions.every((x) => x.busy)) await sleep(5);
          continue;
        }
        s.busy = true;
        try {
          await this.hit(s, this.counts);
        } finally {
          s.busy = false;
        }
      }
    };
    this.running = Array.from({ length: this.opts.concurrency }, worker);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  /** After the load: read every session once; the counts of this pass say what was lost for good. */
  async check(): Promise<LoadCounts> {
    const end: LoadCounts = { requests: 0, ok: 0, empty: 0, stale: 0, failed: 0, maxMs: 0 };
    const pending = [...this.sessions];
    const worker = async () => {
      for (let s = pending.shift(); s !== undefined; s = pending.shift()) await this.hit(s, end);
    };
    await Promise.all(Array.from({ length: this.opts.concurrency }, worker));
    return end;
  }

  /** Let the load run for a while (cut short by Ctrl-C). */
  async run(ms: number): Promise<void> {
    await sleep(ms, this.ctx.signal);
  }
}

export const describeCounts = (c: LoadCounts) =>
  `${c.requests} requests: ${c.failed} failed, ${c.empty} empty, ${c.stale} stale`;
