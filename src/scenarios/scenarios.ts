import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse as parseIni } from "ini";
import {
  type ClusterManifest,
  MANIFEST_PATH,
  PROBE_PATH,
  PROBE_SECRET_HEADER,
  phpIniPath,
} from "../render/index.js";
import { restartNodes } from "../runtime/lifecycle.js";
import {
  appNodes,
  cacheNodes,
  holders,
  lockKey,
  newClient,
  restore,
  type ScenarioContext,
  sessionKey,
  sleep,
} from "./context.js";
import { openSession, runFailover } from "./failover.js";
import { type Check, timed } from "./report.js";
import type { ProbeReply, SessionClient } from "./session-client.js";

export type ScenarioName =
  | "health"
  | "effective-config"
  | "session-store"
  | "kill-owner"
  | "kill-mid-request"
  | "memcached-node-loss"
  | "rolling-restart";

export const SCENARIOS: readonly ScenarioName[] = [
  "health",
  "effective-config",
  "session-store",
  "kill-owner",
  "kill-mid-request",
  "memcached-node-loss",
  "rolling-restart",
];

/** The default run: every scenario, memcached-node-loss only when sessions are replicated. */
export function defaultScenarios(replicas: number): ScenarioName[] {
  return SCENARIOS.filter((s) => s !== "memcached-node-loss" || replicas > 0);
}

// ------------------------------------------------------------------------------------------ health

async function health(ctx: ScenarioContext): Promise<Check[]> {
  return [
    await timed("health", "health", async () => {
      const nodes = await ctx.driver.status(ctx.cluster);
      const bad = nodes.filter((n) => n.state !== "running");
      const client = newClient(ctx);
      const through = await client.probe();
      const lbOk = through.status === 200;
      const problems = [
        ...bad.map((n) => `${n.name} ${n.state}${n.detail ? ` (${n.detail})` : ""}`),
        ...(lbOk
          ? []
          : [
              `a session request through the balancer answered ${through.status} ${through.error ?? through.body.error ?? ""}`.trim(),
            ]),
      ];
      return {
        ok: problems.length === 0,
        detail:
          problems.length === 0
            ? `${nodes.length} nodes running and healthy; the balancer serves sessions`
            : problems.join("; "),
        data: { nodes },
      };
    }),
  ];
}

// -------------------------------------------------------------------------------- effective-config

/** ini values as PHP reports them: On/true/yes → "1", Off/false/no/none → "". */
function normalizeIni(value: unknown): string {
  const text = String(value ?? "")
    .trim()
    .replace(/^"(.*)"$/, "$1");
  const lower = text.toLowerCase();
  if (["on", "true", "yes"].includes(lower)) return "1";
  if (["off", "false", "no", "none"].includes(lower)) return "";
  return text;
}

const COMPARED = [
  "session.save_handler",
  "session.save_path",
  "session.name",
  "session.gc_maxlifetime",
  "session.use_strict_mode",
  "memcached.sess_locking",
  "memcached.sess_lock_expire",
  "memcached.sess_number_of_replicas",
  "memcached.sess_binary_protocol",
  "memcached.sess_remove_failed_servers",
  "memcached.sess_server_failure_limit",
  "memcached.sess_prefix",
];

async function effectiveConfig(ctx: ScenarioContext): Promise<Check[]> {
  const t = ctx.cluster.topology;
  const manifest = JSON.parse(
    await readFile(path.join(ctx.cluster.renderDir, MANIFEST_PATH), "utf8"),
  ) as ClusterManifest;
  const expectedPath = manifest.nodes
    .filter((n) => n.role === "memcached")
    .map((n) => `${n.host}:${n.port}`)
    .join(",");
  /** What the cluster needs of every node, whatever its own overrides say. */
  const contract: Record<string, string> = {
    "session.save_handler": "memcached",
    "session.save_path": expectedPath,
    "session.name": t.sessions.name,
    "memcached.sess_number_of_replicas": String(t.sessions.replicas),
    "memcached.sess_lock_expire": String(t.sessions.lockExpireMs / 1000),
    "memcached.sess_locking": t.sessions.locking ? "1" : "",
  };
  if (t.sessions.replicas > 0) {
    contract["memcached.sess_binary_protocol"] = "1";
    contract["memcached.sess_remove_failed_servers"] = "1";
    contract["memcached.sess_server_failure_limit"] = "1";
  }
  const checks: Check[] = [];
  for (const node of appNodes(ctx)) {
    checks.push(
      await timed("effective-config", `effective-config ${node}`, async () => {
        const reply = await ctx.driver.httpGetNode(ctx.cluster, node, `${PROBE_PATH}?action=ini`, {
          [PROBE_SECRET_HEADER]: ctx.secret,
        });
        if (reply.status !== 200)
          return { ok: false, detail: `the probe on ${node} answered ${reply.status}` };
        const effective = JSON.parse(reply.body) as {
          ini: Record<string, string>;
          extensions: Record<string, boolean>;
        };
        const rendered = parseIni(await readFile(path.join(ctx.cluster.renderDir, phpIniPath(node)), "utf8"));
        const problems: string[] = [];
        if (!effective.extensions.memcached) problems.push("the memcached extension is not loaded");
        for (const key of COMPARED) {
          if (!(key in rendered)) continue;
          const want = normalizeIni(rendered[key]);
          const got = normalizeIni(effective.ini[key]);
          if (want !== got)
            problems.push(`${key} is "${got}" but the rendered php.ini says "${want}" (drift)`);
        }
        for (const [key, want] of Object.entries(contract)) {
          const got = normalizeIni(effective.ini[key]);
          if (got !== want) problems.push(`${key} is "${got}", the cluster needs "${want}"`);
        }
        return {
          ok: problems.length === 0,
          detail:
            problems.length === 0
              ? `handler memcached, save_path ${expectedPath}, replicas ${t.sessions.replicas}, lock expiry ${t.sessions.lockExpireMs / 1000}s`
              : problems.join("; "),
          data: { effective: Object.fromEntries(COMPARED.map((k) => [k, effective.ini[k]])) },
        };
      }),
    );
  }
  return checks;
}

// ---------------------------------------------------------------------------------- session-store

const STORE_SESSIONS = 20;

async function sessionStore(ctx: ScenarioContext): Promise<Check[]> {
  return [
    await timed("session-store", "session-store", async () => {
      const want = ctx.cluster.topology.sessions.replicas + 1;
      const sessions: { client: SessionClient; sid: string }[] = [];
      for (let i = 0; i < STORE_SESSIONS; i++) {
        const { client, last } = await openSession(ctx);
        sessions.push({ client, sid: last.body.sessionId ?? "" });
      }
      const problems: string[] = [];
      const perNode: Record<string, number> = {};
      for (const s of sessions) {
        const found = await holders(ctx, sessionKey(s.sid));
        for (const n of Object.keys(found)) perNode[n] = (perNode[n] ?? 0) + 1;
        if (Object.keys(found).length < want) {
          problems.push(`session ${s.sid} is on ${Object.keys(found).length} node(s), expected ${want}`);
        }
      }
      // the stored value changes after a request
      const probe = sessions[0];
      if (probe) {
        const before = await holders(ctx, sessionKey(probe.sid));
        await probe.client.probe();
        const after = await holders(ctx, sessionKey(probe.sid));
        const changed = Object.keys(after).some((n) => after[n] !== before[n]);
        if (!changed) problems.push(`the stored session ${probe.sid} did not change after a request`);
      }
      const spread = Object.entries(perNode)
        .map(([n, c]) => `${c} on ${n}`)
        .join(", ");
      return {
        ok: problems.length === 0,
        detail:
          problems.length === 0
            ? `${STORE_SESSIONS} sessions, every key in memcached (${spread}); a request rewrites the stored value`
            : problems.slice(0, 5).join("; ") +
              (problems.length > 5 ? `; and ${problems.length - 5} more` : ""),
        data: { perNode },
      };
    }),
  ];
}

// ------------------------------------------------------------------------------------- kill-owner

/** A fresh session whose last request was served by `node` (bounded number of tries). */
async function sessionServedBy(ctx: ScenarioContext, node: string) {
  for (let i = 0; i < 80; i++) {
    const s = await openSession(ctx);
    if (s.last.servedBy === node) return s;
    // with round-robin the same session moves on: a few more requests may land on the node
    for (let j = 0; j < 3; j++) {
      const next = await s.client.probe();
      if (next.status === 200 && next.servedBy === node) return { ...s, last: next };
    }
  }
  throw new Error(`could not get a session served by ${node}`);
}

async function killOwner(ctx: ScenarioContext): Promise<Check[]> {
  const checks: Check[] = [];
  for (const node of appNodes(ctx)) {
    checks.push(
      await timed("kill-owner", `kill-owner ${node}`, async () => {
        const session = await sessionServedBy(ctx, node);
        const report = await runFailover(ctx, { mode: "kill", keepDown: false, session });
        const failed = report.checks.filter((c) => !c.ok);
        return {
          ok: report.ok,
          detail: report.ok
            ? `killed ${node}; ${report.after?.node} served session ${report.sessionId.slice(0, 8)}… ${report.timeToFirstGoodMs} ms later, nonce intact, counter ${report.before.counter}→${report.after?.counter}`
            : failed.map((c) => `${c.name}: ${c.detail}`).join("; "),
          data: report,
        };
      }),
    );
  }
  return checks;
}

// ------------------------------------------------------------------------------- kill-mid-request

const STALL_MARGIN_MS = 2500;

async function killMidRequest(ctx: ScenarioContext): Promise<Check[]> {
  const lockExpireMs = ctx.cluster.topology.sessions.lockExpireMs;
  let target: string | undefined;
  const checks = [
    await timed("kill-mid-request", "kill-mid-request", async () => {
      if (!ctx.cluster.topology.sessions.locking) {
        return { ok: true, detail: "sessions.locking is off: no lock can be orphaned" };
      }
      const { client, nonce, last } = await openSession(ctx);
      const sid = last.body.sessionId ?? "";
      const counter = last.body.counter ?? 0;
      const hold = client.holdLock(Math.min(30_000, lockExpireMs * 4));
      const holding = await hold.holding;
      target = holding.node ?? "";
      const lockBefore = await holders(ctx, lockKey(sid));
      await ctx.driver.killNode(ctx.cluster, target);
      const tKill = performance.now();
      await hold.done;
      const orphaned = Object.keys(await holders(ctx, lockKey(sid)));
      const replies: ProbeReply[] = [];
      let good: ProbeReply | undefined;
      const deadline = tKill + lockExpireMs + STALL_MARGIN_MS + 10_000;
      while (performance.now() < deadline && replies.length < 500) {
        const r = await client.probe();
        replies.push(r);
        if (r.status === 200) {
          good = r;
          break;
        }
        await sleep(50);
      }
      const stallMs = good ? Math.round(performance.now() - tKill) : undefined;
      const problems: string[] = [];
      if (Object.keys(lockBefore).length === 0)
        problems.push("the session lock was not seen while the request held it");
      if (!good)
        problems.push(`the session was not served again within ${Math.round((deadline - tKill) / 1000)} s`);
      else {
        if (good.body.counter !== counter + 1) {
          problems.push(
            `the session came back with counter ${good.body.counter}, expected ${counter + 1} (data lost)`,
          );
        }
        if (good.body.nonce !== nonce) problems.push("the nonce was lost");
        if ((stallMs ?? 0) > lockExpireMs + STALL_MARGIN_MS) {
          problems.push(
            `the stall (${stallMs} ms) is longer than lockExpire ${lockExpireMs} ms + ${STALL_MARGIN_MS} ms`,
          );
        }
      }
      const failed = replies.filter((r) => r.status !== 200).length;
      return {
        ok: problems.length === 0,
        detail:
          problems.length === 0
            ? `killed ${target} holding the lock of ${sid.slice(0, 8)}… (lock ${orphaned.length > 0 ? "orphaned" : "gone"} after the kill); served again by ${good?.servedBy} after a ${stallMs} ms stall (lockExpire ${lockExpireMs} ms), ${failed} failed request(s), data intact`
            : problems.join("; "),
        data: {
          node: target,
          stallMs,
          lockExpireMs,
          failedRequests: failed,
          lockOrphaned: orphaned.length > 0,
        },
      };
    }),
  ];
  if (target) await restore(ctx, target).catch(() => {});
  return checks;
}

// ---------------------------------------------------------------------------- memcached-node-loss

const LOSS_SESSIONS = 12;

async function memcachedNodeLoss(ctx: ScenarioContext): Promise<Check[]> {
  const victim = cacheNodes(ctx)[0] ?? "memcached1";
  const replicas = ctx.cluster.topology.sessions.replicas;
  type S = { client: SessionClient; nonce: string; counter: number; sid: string; onVictim: boolean };
  const sessions: S[] = [];
  const checks: Check[] = [];
  checks.push(
    await timed("memcached-node-loss", "memcached-node-loss", async () => {
      if (cacheNodes(ctx).length < 2) {
        return {
          ok: false,
          detail:
            "one memcached node: losing it loses every session (set memcached.nodes ≥ 2 and sessions.replicas ≥ 1)",
        };
      }
      for (let i = 0; i < LOSS_SESSIONS; i++) {
        const s = await openSession(ctx);
        const sid = s.last.body.sessionId ?? "";
        const on = await holders(ctx, sessionKey(sid));
        sessions.push({
          client: s.client,
          nonce: s.nonce,
          counter: s.last.body.counter ?? 0,
          sid,
          onVictim: victim in on,
        });
      }
      await ctx.driver.killNode(ctx.cluster, victim);
      const lost: string[] = [];
      const failed: string[] = [];
      for (const s of sessions) {
        const r = await s.client.probe();
        if (r.status !== 200) failed.push(`${s.sid.slice(0, 8)}… HTTP ${r.status}`);
        else if (r.body.sessionId !== s.sid || r.body.nonce !== s.nonce || r.body.counter !== s.counter + 1) {
          lost.push(
            `${s.sid.slice(0, 8)}… (counter ${r.body.counter}, expected ${s.counter + 1}${r.body.sessionId !== s.sid ? ", new session id" : ""})`,
          );
        } else s.counter += 1;
      }
      const affected = sessions.filter((s) => s.onVictim).length;
      const ok = lost.length === 0 && failed.length === 0;
      return {
        ok,
        detail: ok
          ? `killed ${victim}, which held ${affected} of ${LOSS_SESSIONS} sessions: every session kept its data (replicas ${replicas})`
          : `killed ${victim} (held ${affected} of ${LOSS_SESSIONS} sessions, replicas ${replicas}): ${lost.length} lost, ${failed.length} failed: ${[...lost, ...failed].slice(0, 4).join("; ")}`,
        data: { victim, sessions: LOSS_SESSIONS, affected, lost: lost.length, failed: failed.length },
      };
    }),
  );
  // Bring the node back. It returns empty: php-memcached reads the returning node first and does
  // not fall back to the replica on a miss, so sessions whose primary it is read empty. Measured
  // and reported as the known limit of php-memcached replication, not as a failure of the cluster.
  checks.push(
    await timed("memcached-node-loss", "memcached-node-loss: node returns empty (known limit)", async () => {
      await restore(ctx, victim);
      if (sessions.length === 0) return { ok: true, detail: `${victim} restored` };
      let emptied = 0;
      for (const s of sessions) {
        const r = await s.client.probe();
        if (r.status === 200 && r.body.counter !== s.counter + 1) emptied++;
      }
      return {
        ok: true,
        detail: `${victim} restored (empty): ${emptied} of ${sessions.length} sessions then read empty, because php-memcached reads a returning node first and does not fall back to a replica on a miss`,
        data: { emptied, sessions: sessions.length },
      };
    }),
  );
  return checks;
}

// -------------------------------------------------------------------------------- rolling-restart

const ROLLING_SESSIONS = 4;

async function rollingRestart(ctx: ScenarioContext): Promise<Check[]> {
  return [
    await timed("rolling-restart", "rolling-restart", async () => {
      const sessions = await Promise.all(Array.from({ length: ROLLING_SESSIONS }, () => openSession(ctx)));
      let stop = false;
      const stats = { requests: 0, failed: 0, wentBack: 0, lost: 0, maxMs: 0, samples: [] as string[] };
      const loops = sessions.map(async (s) => {
        let counter = s.last.body.counter ?? 0;
        const sid = s.last.body.sessionId;
        while (!stop && stats.requests < 50_000) {
          const r = await s.client.probe();
          stats.requests++;
          stats.maxMs = Math.max(stats.maxMs, r.ms);
          if (r.status !== 200) {
            stats.failed++;
            if (stats.samples.length < 3)
              stats.samples.push(`HTTP ${r.status} ${r.error ?? r.body.error ?? ""}`.trim());
            continue;
          }
          if (r.body.sessionId !== sid || r.body.nonce !== s.nonce) stats.lost++;
          else if ((r.body.counter ?? 0) <= counter) stats.wentBack++;
          counter = r.body.counter ?? counter;
        }
      });
      let restartError: Error | undefined;
      try {
        await sleep(200);
        await restartNodes(ctx.cluster, ctx.driver, appNodes(ctx), {
          allAtOnce: false,
          timeoutMs: 60_000,
          reporter: { step: (_t, w) => w(), warn: () => {}, info: () => {} },
          lock: false,
        });
        await sleep(200);
      } catch (err) {
        restartError = err as Error;
      } finally {
        stop = true;
        await Promise.all(loops);
      }
      const ok = !restartError && stats.failed === 0 && stats.lost === 0 && stats.wentBack === 0;
      return {
        ok,
        detail: restartError
          ? `the rolling restart failed: ${restartError.message}`
          : `${appNodes(ctx).length} app nodes restarted one at a time under ${ROLLING_SESSIONS} busy sessions: ${stats.requests} requests, ${stats.failed} failed, ${stats.lost} sessions lost, ${stats.wentBack} counters went back, slowest ${Math.round(stats.maxMs)} ms` +
            (stats.samples.length ? ` (${stats.samples.join("; ")})` : ""),
        data: { ...stats, samples: undefined },
      };
    }),
  ];
}

export const RUNNERS: Record<ScenarioName, (ctx: ScenarioContext) => Promise<Check[]>> = {
  health,
  "effective-config": effectiveConfig,
  "session-store": sessionStore,
  "kill-owner": killOwner,
  "kill-mid-request": killMidRequest,
  "memcached-node-loss": memcachedNodeLoss,
  "rolling-restart": rollingRestart,
};
