import { restartNode } from "../runtime/lifecycle.js";
import { cacheNodes, mark, restore, type ScenarioContext, takeDown, topologyOf } from "./context.js";
import { describeCounts, type LoadCounts, SessionLoad } from "./load.js";
import { type Check, recorded, type Scenario } from "./report.js";

const NOT_REPLICATED =
  "with sessions.replicas 0 there is no second copy: a memcached node that crashes loses the sessions it holds; " +
  "a graceful restart keeps them in Memcached (warm), but a request that comes while the node is away (about a second) " +
  "fails, and PHP's strict mode gives that user a new, empty session; set sessions.replicas: 1 for no loss";

/** No request failed, none read a session empty or older than its last write, during the load and after it. */
function verdict(during: LoadCounts, end: LoadCounts): boolean {
  return [during.failed, during.empty, during.stale, end.failed, end.empty, end.stale].every((n) => n === 0);
}

/**
 * Each Memcached node in turn SIGKILLed under a read-modify-write load, then brought back: its
 * launcher fills it from its peers before it serves. Every session keeps its latest data while the
 * node is away and after it returns: 0 failed requests, 0 empty, 0 stale.
 */
async function runLoss(ctx: ScenarioContext): Promise<Check[]> {
  return [
    await recorded(ctx, "memcached-node-loss", "memcached-node-loss", async () => {
      const t = topologyOf(ctx);
      if (cacheNodes(ctx).length < 2) {
        return {
          ok: false,
          detail:
            "one memcached node: losing it loses every session (set memcached.nodes ≥ 2 and sessions.replicas ≥ 1)",
        };
      }
      const load = new SessionLoad(ctx, ctx.load);
      await load.open();
      load.start();
      const away: string[] = [];
      try {
        for (const node of cacheNodes(ctx)) {
          await load.run(800);
          await takeDown(ctx, node, "kill");
          await load.run(1200);
          await restore(ctx, node);
          const r = (await ctx.driver.inspect({ nodes: [node] }))[node]?.recovery;
          away.push(
            `${node} back ${r ? `in ${(r.awayMs / 1000).toFixed(1)} s after its start, ${r.copied} keys copied` : "warm"}`,
          );
        }
        await load.run(800);
      } finally {
        await load.stop();
      }
      const end = await load.check();
      const ok = verdict(load.counts, end);
      return {
        ok,
        detail:
          `each memcached node killed and brought back under ${load.size} sessions: ${describeCounts(load.counts)}; at the end ${end.empty} empty, ${end.stale} stale (${away.join("; ")})` +
          (t.sessions.replicas === 0 ? `; ${NOT_REPLICATED}` : "") +
          (ok ? "" : ` — ${load.samples.join("; ")}`),
        data: { sessions: load.size, during: load.counts, end, samples: load.samples },
      };
    }),
  ];
}

/**
 * Each Memcached node restarted gracefully, one at a time, under the load: a warm restart (its
 * memory file) plus the changes from its peers. 0 failed, 0 empty, 0 stale; the time away per node.
 */
async function runRestart(ctx: ScenarioContext): Promise<Check[]> {
  return [
    await recorded(ctx, "memcached-restart", "memcached-restart", async () => {
      const t = topologyOf(ctx);
      const load = new SessionLoad(ctx, ctx.load);
      await load.open();
      load.start();
      const times: string[] = [];
      try {
        for (const node of cacheNodes(ctx)) {
          await load.run(800);
          ctx.down.add(node);
          const t0 = performance.now();
          mark(ctx, "restart", `restart ${node}`);
          await restartNode(ctx.driver, node, { timeoutMs: 60_000, signal: ctx.signal });
          mark(ctx, "back", `${node} back`);
          ctx.down.delete(node);
          const r = (await ctx.driver.inspect({ nodes: [node] }))[node]?.recovery;
          times.push(
            `${node} ${Math.round(performance.now() - t0)} ms${r ? ` (copy ${r.copyMs} ms, ${r.copied} keys, requests held ${r.holdMs} ms)` : ""}`,
          );
        }
        await load.run(800);
      } finally {
        await load.stop();
      }
      const end = await load.check();
      const lossless = end.empty + end.stale + load.counts.empty + load.counts.stale === 0;
      const replicated = t.sessions.replicas > 0;
      const ok = replicated ? verdict(load.counts, end) : lossless;
      return {
        ok,
        detail:
          `each memcached node restarted under ${load.size} sessions: ${describeCounts(load.counts)}; at the end ${end.empty} empty, ${end.stale} stale; ${times.join(", ")}` +
          (replicated ? "" : `; ${NOT_REPLICATED}`) +
          (ok ? "" : ` — ${load.samples.join("; ")}`),
        data: { sessions: load.size, during: load.counts, end, samples: load.samples },
      };
    }),
  ];
}

export const memcachedNodeLoss: Scenario = {
  name: "memcached-node-loss",
  readOnly: false,
  run: runLoss,
  // with replicas 0 it can only fail (validate warns about that topology); asked for, it runs and shows the loss
  byDefault: (t) => t.memcached.nodes > 1 && t.sessions.replicas > 0,
};

export const memcachedRestart: Scenario = {
  name: "memcached-restart",
  readOnly: false,
  run: runRestart,
  // with replicas 0 the sessions asked for while the node is away are lost (see NOT_REPLICATED): asked for, it runs and shows it
  byDefault: (t) => t.memcached.nodes > 1 && t.sessions.replicas > 0,
};
