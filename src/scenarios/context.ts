import { randomBytes } from "node:crypto";
import { SESSION_KEY_PREFIX } from "../render/index.js";
import type { RuntimeDriver, StepReporter } from "../runtime/driver.js";
import { stopGraceMs } from "../runtime/kit/index.js";
import { restoreNode } from "../runtime/lifecycle.js";
import { appNodeNames, memcachedNodeNames, type Topology } from "../topology/index.js";
import { type Endpoint, SessionClient } from "./session-client.js";
import type { TimelineEventKind, TimelineRecorder } from "./timeline.js";

/** What a scenario works with: the cluster's driver, the probe secret, where the balancer is. */
export interface ScenarioContext {
  driver: RuntimeDriver;
  secret: string;
  endpoint: Endpoint;
  reporter: StepReporter;
  signal?: AbortSignal | undefined;
  /** Nodes this run took down and has not brought back yet: restored when the run ends, however it ends. */
  down: Set<string>;
  /** The load of the scenarios that run one (verify --sessions): sessions, concurrent clients, bytes each. */
  load: { sessions: number; concurrency: number; pad: number };
  /** The timeline of the check that runs now, when it records one (its requests, its kills and returns). */
  recording?: TimelineRecorder | undefined;
}

export const DEFAULT_LOAD = { sessions: 200, concurrency: 8, pad: 1024 };

export const topologyOf = (ctx: ScenarioContext): Topology => ctx.driver.cluster.topology;
export const appNodes = (ctx: ScenarioContext) => appNodeNames(topologyOf(ctx));
export const cacheNodes = (ctx: ScenarioContext) => memcachedNodeNames(topologyOf(ctx));

export function newClient(ctx: ScenarioContext): SessionClient {
  return new SessionClient(
    ctx.endpoint,
    ctx.secret,
    topologyOf(ctx).sessions.name,
    35_000,
    ctx.signal,
    (reply, sentAt) => ctx.recording?.add(reply, sentAt),
  );
}

/** An event on the timeline of the check that runs now (none when it records none). */
export function mark(ctx: ScenarioContext, kind: TimelineEventKind, label: string): void {
  ctx.recording?.mark(kind, label);
}

/** A step reporter that puts each step a lifecycle operation takes on the timeline, as it begins. */
export function markingReporter(ctx: ScenarioContext): StepReporter {
  return {
    step: (title, work) => {
      mark(ctx, /^restart /.test(title) ? "restart" : /^drain /.test(title) ? "drain" : "step", title);
      return work();
    },
    warn: () => {},
    info: () => {},
  };
}

export function randomNonce(): string {
  return randomBytes(12).toString("hex");
}

export const sessionKey = (sid: string) => `${SESSION_KEY_PREFIX}${sid}`;
export const lockKey = (sid: string) => `${SESSION_KEY_PREFIX}lock.${sid}`;

/** For each key, the Memcached nodes that hold it, with its value there (one read per node); dead nodes are skipped. */
export async function holdersOf(
  ctx: ScenarioContext,
  keys: string[],
): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = Object.fromEntries(keys.map((k) => [k, {}]));
  await Promise.all(
    cacheNodes(ctx).map(async (node) => {
      let found: Record<string, string>;
      try {
        found = await ctx.driver.readStoreKeys({ node, keys });
      } catch {
        return;
      }
      for (const [key, value] of Object.entries(found)) {
        const entry = out[key];
        if (entry) entry[node] = value;
      }
    }),
  );
  return out;
}

/** The Memcached nodes that hold one key, with its value there. */
export async function holders(ctx: ScenarioContext, key: string): Promise<Record<string, string>> {
  return (await holdersOf(ctx, [key]))[key] ?? {};
}

/** Take a node down (SIGKILL or graceful stop), remembering to bring it back. */
export async function takeDown(ctx: ScenarioContext, node: string, mode: "kill" | "stop"): Promise<void> {
  ctx.down.add(node);
  mark(ctx, mode, `${mode} ${node}`);
  if (mode === "kill") {
    const how = await ctx.driver.killNode({ node });
    if (how) ctx.reporter.warn(how);
  } else await ctx.driver.stopNode({ node, graceMs: stopGraceMs(topologyOf(ctx)) });
}

/** Bring a node this run took down back, healthy, and put it back into the balancer's rotation. */
export async function restore(ctx: ScenarioContext, node: string): Promise<void> {
  mark(ctx, "restore", `restore ${node}`);
  await restoreNode(ctx.driver, node);
  mark(ctx, "back", `${node} back`);
  ctx.down.delete(node);
}

/** Bring back every node the run took down and did not restore (after a failure or Ctrl-C). */
export async function restoreAll(ctx: ScenarioContext): Promise<void> {
  for (const node of [...ctx.down]) await restore(ctx, node);
}
