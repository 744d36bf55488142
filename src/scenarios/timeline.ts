import type { ProbeReply } from "./session-client.js";

/** How a request of a scenario ended: a good answer, its session empty or older than its last write, or no 200. */
export const OUTCOMES = ["ok", "empty", "stale", "failed"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export type TimelineEventKind =
  | "kill"
  | "stop"
  | "restore"
  | "back"
  | "restart"
  | "drain"
  | "active"
  | "step";

export interface TimelineEvent {
  /** ms since the timeline's start */
  t: number;
  kind: TimelineEventKind;
  label: string;
}

/**
 * Every request a check made, in columns (one entry per request, in the order they were sent),
 * and what the check did to the cluster meanwhile: what `verify --report` draws and `--json` carries.
 */
export interface Timeline {
  /** Wall-clock time of t = 0 (ISO 8601). */
  startedAt: string;
  /** The nodes that served requests; `node` holds an index into it, -1 when no node answered. */
  nodes: string[];
  /** When each request was sent, ms since startedAt. */
  t: number[];
  /** How long it took, ms. */
  ms: number[];
  node: number[];
  /** An index into OUTCOMES. */
  outcome: number[];
  events: TimelineEvent[];
  /** Requests past the cap that are counted here but not kept. */
  dropped: number;
}

/** Kept per check: rolling-restart makes some thousands; beyond this they are only counted. */
export const TIMELINE_CAP = 20_000;

const round1 = (n: number) => Math.round(n * 10) / 10;

/** Records the requests of one check as they are answered, and its events as they happen. */
export class TimelineRecorder {
  private readonly t0 = performance.now();
  private readonly startedAt = new Date().toISOString();
  private readonly nodes: string[] = [];
  private readonly columns = {
    t: [] as number[],
    ms: [] as number[],
    node: [] as number[],
    outcome: [] as number[],
  };
  private readonly events: TimelineEvent[] = [];
  private readonly index = new WeakMap<ProbeReply, number>();
  private dropped = 0;

  /** A request answered (or broken): `sentAt` is its performance.now() when it was sent. */
  add(reply: ProbeReply, sentAt: number): void {
    if (this.columns.t.length >= TIMELINE_CAP) {
      this.dropped++;
      return;
    }
    let node = -1;
    if (reply.servedBy) {
      node = this.nodes.indexOf(reply.servedBy);
      if (node < 0) node = this.nodes.push(reply.servedBy) - 1;
    }
    this.index.set(reply, this.columns.t.length);
    this.columns.t.push(round1(sentAt - this.t0));
    this.columns.ms.push(round1(reply.ms));
    this.columns.node.push(node);
    this.columns.outcome.push(OUTCOMES.indexOf(reply.status === 200 ? "ok" : "failed"));
  }

  /** A load that knows each session's last write says more than the status did (empty, stale). */
  classify(reply: ProbeReply, outcome: Outcome): void {
    const i = this.index.get(reply);
    if (i !== undefined) this.columns.outcome[i] = OUTCOMES.indexOf(outcome);
  }

  mark(kind: TimelineEventKind, label: string): void {
    this.events.push({ t: round1(performance.now() - this.t0), kind, label });
  }

  get size(): number {
    return this.columns.t.length + this.dropped;
  }

  toJSON(): Timeline {
    return {
      startedAt: this.startedAt,
      nodes: [...this.nodes],
      t: [...this.columns.t],
      ms: [...this.columns.ms],
      node: [...this.columns.node],
      outcome: [...this.columns.outcome],
      events: [...this.events],
      dropped: this.dropped,
    };
  }
}

/** Per outcome, how many requests of a timeline ended so (a summary for people and for `--json` readers). */
export function outcomeCounts(t: Timeline): Record<Outcome, number> {
  const counts = { ok: 0, empty: 0, stale: 0, failed: 0 };
  for (const o of t.outcome) counts[OUTCOMES[o] ?? "failed"]++;
  return counts;
}
