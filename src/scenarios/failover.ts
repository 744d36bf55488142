import { fail, isPhpclusterError } from "../errors.js";
import { withClusterLock } from "../runtime/cluster.js";
import type { OpenCluster } from "../runtime/index.js";
import { nodeOf, sleep, throwIfAborted } from "../runtime/kit/index.js";
import { balancerEndpoint, type Progress, requireRunning } from "../runtime/lifecycle.js";
import { readTls } from "../runtime/tls.js";
import {
  DEFAULT_LOAD,
  holders,
  newClient,
  randomNonce,
  restore,
  restoreAll,
  type ScenarioContext,
  sessionKey,
  takeDown,
} from "./context.js";
import type { ProbeReply, SessionClient } from "./session-client.js";

export type FailoverMode = "kill" | "stop";

export interface FailoverOptions {
  /** The node to take down; default: the one serving the session. */
  node?: string | undefined;
  mode: FailoverMode;
  keepDown: boolean;
  /** Bound on reaching a good response after the kill. */
  timeoutMs?: number;
  /** An already-open session whose last request was served by the node (kill-owner uses this). */
  session?: { client: SessionClient; nonce: string; last: ProbeReply };
}

export interface Attempt {
  status: number;
  node: string | undefined;
  counter: number | undefined;
  ms: number;
  error?: string | undefined;
}

export interface FailoverReport {
  ok: boolean;
  node: string;
  mode: FailoverMode;
  sessionId: string;
  nonce: string;
  before: { node: string; counter: number; storedOn: string[] };
  after:
    | {
        node: string | undefined;
        counter: number | undefined;
        nonce: string | null | undefined;
        sessionId: string | undefined;
      }
    | undefined;
  /** From the kill to the first good response (200, another node, same session, data intact). */
  timeToFirstGoodMs: number | undefined;
  attempts: Attempt[];
  storeChanged: boolean;
  restored: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
}

const attemptOf = (r: ProbeReply): Attempt => ({
  status: r.status,
  node: r.servedBy,
  counter: r.body.counter,
  ms: Math.round(r.ms),
  error: r.error ?? r.body.error,
});

/** Open a session through the balancer and return it with the node that served its last request. */
export async function openSession(
  ctx: ScenarioContext,
): Promise<{ client: SessionClient; nonce: string; last: ProbeReply }> {
  throwIfAborted(ctx.signal);
  const client = newClient(ctx);
  const nonce = randomNonce();
  const first = await client.probe({ nonce });
  if (first.status !== 200) {
    throw fail.runtime(
      "SESSION_FAILED",
      `the first request through the balancer answered ${first.status}: ${first.error ?? first.body.error ?? ""}`,
    );
  }
  const last = await client.probe();
  if (last.status !== 200) throw fail.runtime("SESSION_FAILED", `the second request answered ${last.status}`);
  return { client, nonce, last };
}

/**
 * Open a session, learn the node that serves it, take that node (or `node`) down, and show that the
 * next request is served by another node with the same session id, the nonce intact and the counter
 * continued. Restores the node afterwards unless keepDown (and always when interrupted).
 */
export async function runFailover(ctx: ScenarioContext, opts: FailoverOptions): Promise<FailoverReport> {
  const r = ctx.reporter;
  const session =
    opts.session ?? (await r.step("open a session through the balancer", () => openSession(ctx)));
  const { client, nonce, last } = session;
  const sessionId = last.body.sessionId ?? "";
  const owner = last.servedBy ?? "";
  const target = opts.node ?? owner;
  const counter = last.body.counter ?? 0;
  const storedBefore = await holders(ctx, sessionKey(sessionId));
  const timeoutMs = opts.timeoutMs ?? 30_000;

  throwIfAborted(ctx.signal);
  await r.step(`${opts.mode} ${target}${target === owner ? " (it serves the session)" : ""}`, () =>
    takeDown(ctx, target, opts.mode),
  );
  const t0 = performance.now();
  const attempts: Attempt[] = [];
  let good: ProbeReply | undefined;
  const deadline = Date.now() + timeoutMs;
  await r.step("request the session again", async () => {
    while (Date.now() < deadline && attempts.length < 200) {
      throwIfAborted(ctx.signal);
      const reply = await client.probe();
      attempts.push(attemptOf(reply));
      if (reply.status === 200 && reply.servedBy !== target) {
        good = reply;
        return;
      }
      await sleep(50, ctx.signal);
    }
  });
  const timeToFirstGoodMs = good ? Math.round(performance.now() - t0) : undefined;
  const storedAfter = await holders(ctx, sessionKey(sessionId));
  const storeChanged = Object.keys(storedAfter).some((n) => storedAfter[n] !== storedBefore[n]);

  let restored = false;
  if (!opts.keepDown) {
    await r.step(`restore ${target}`, () => restore(ctx, target));
    restored = true;
  } else {
    ctx.down.delete(target); // left down on purpose
  }

  const g = good as ProbeReply | undefined;
  const checks = [
    {
      name: "session stored in memcached",
      ok: Object.keys(storedBefore).length > 0,
      detail:
        Object.keys(storedBefore).length > 0
          ? `key on ${Object.keys(storedBefore).join(", ")}`
          : `no memcached node holds ${sessionKey(sessionId)}`,
    },
    {
      name: "served by another node",
      ok: g !== undefined,
      detail: g
        ? `${g.servedBy} answered ${timeToFirstGoodMs} ms after the ${opts.mode}`
        : `no good answer within ${timeoutMs} ms (${attempts.length} attempts)`,
    },
    {
      name: "same session id",
      ok: g?.body.sessionId === sessionId,
      detail: `before ${sessionId}, after ${g?.body.sessionId ?? "-"}`,
    },
    {
      name: "nonce intact",
      ok: g?.body.nonce === nonce,
      detail: `stored ${nonce}, read ${g?.body.nonce ?? "-"}`,
    },
    {
      name: "counter continued",
      ok: g?.body.counter === counter + 1,
      detail: `${counter} before, ${g?.body.counter ?? "-"} after (expected ${counter + 1})`,
    },
    {
      name: "session written back to memcached",
      ok: g === undefined || storeChanged,
      detail: storeChanged
        ? "the stored session changed after the request"
        : "the stored session did not change",
    },
  ];
  return {
    ok: checks.every((c) => c.ok),
    node: target,
    mode: opts.mode,
    sessionId,
    nonce,
    before: { node: owner, counter, storedOn: Object.keys(storedBefore) },
    after: g
      ? { node: g.servedBy, counter: g.body.counter, nonce: g.body.nonce, sessionId: g.body.sessionId }
      : undefined,
    timeToFirstGoodMs,
    attempts,
    storeChanged,
    restored,
    checks,
  };
}

/**
 * Build the scenario context of a running cluster and run `work` holding the cluster lock; every
 * node the work took down and did not bring back (a failure, Ctrl-C) is restored before returning.
 */
export async function withScenarioContext<T>(
  open: OpenCluster,
  command: string,
  progress: Progress & { load?: Partial<ScenarioContext["load"]> },
  work: (ctx: ScenarioContext) => Promise<T>,
): Promise<T> {
  const { driver, cluster } = open;
  const secret = await requireRunning(driver);
  return withClusterLock(cluster.stateDir, command, async () => {
    const ctx: ScenarioContext = {
      driver,
      secret,
      endpoint: { ...(await balancerEndpoint(driver)), ca: (await readTls(cluster))?.ca },
      reporter: progress.reporter,
      signal: progress.signal,
      down: new Set(),
      load: { ...DEFAULT_LOAD, ...progress.load },
    };
    try {
      return await work(ctx);
    } catch (err) {
      const left = [...ctx.down];
      if (left.length > 0) await progress.reporter.step(`restore ${left.join(", ")}`, () => restoreAll(ctx));
      if (isPhpclusterError(err, "CANCELLED")) {
        throw fail.cancelled(
          left.length > 0 ? `interrupted; ${left.join(", ")} brought back` : "interrupted",
        );
      }
      throw err;
    } finally {
      if (ctx.down.size > 0)
        await progress.reporter.step(`restore ${[...ctx.down].join(", ")}`, () => restoreAll(ctx));
    }
  });
}

/** `phpcluster failover`: checks its options, then runs the failover on the cluster. */
export async function failoverCluster(
  open: OpenCluster,
  opts: Omit<FailoverOptions, "session">,
  progress: Progress,
): Promise<FailoverReport> {
  const t = open.cluster.topology;
  if (opts.node) nodeOf(t, opts.node, "app");
  if (t.app.replicas < 2) {
    throw fail.runtime("NO_OTHER_NODE", "failover needs at least two app nodes (app.replicas ≥ 2)");
  }
  return withScenarioContext(open, "failover", progress, (ctx) => runFailover(ctx, opts));
}
