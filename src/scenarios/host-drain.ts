import { reloadBalancer, waitUntil } from "../runtime/kit/index.js";
import { mark, type ScenarioContext } from "./context.js";
import { describeCounts, SessionLoad } from "./load.js";
import { type Check, recorded, type Scenario } from "./report.js";

const DRAIN_TIMEOUT_MS = 120_000;

/**
 * A whole host drained through the swarm's manager, under a read-modify-write load: every
 * phpcluster node on it stops (each is pinned to its host, so none moves), the sessions live on
 * in the others, then the host is made active again and its nodes return (a memcached node warm,
 * filled from its peers by its launcher). The host chosen holds the most nodes, never the
 * balancer's. 0 failed requests, 0 empty, 0 stale, during the drain and after the return.
 */
async function run(ctx: ScenarioContext): Promise<Check[]> {
  return [
    await recorded(ctx, "host-drain", "host-drain", async () => {
      const { driver } = ctx;
      if (!driver.hosts || !driver.setHostAvailability) {
        return {
          ok: false,
          detail: `host-drain needs a runtime of several hosts (swarm); this is ${driver.name}`,
        };
      }
      const hosts = (await driver.hosts()).filter((h) => h.ready && h.active && !h.nodes.includes("lb"));
      const host = hosts.filter((h) => h.nodes.length > 0).sort((a, b) => b.nodes.length - a.nodes.length)[0];
      if (!host)
        return { ok: false, detail: "no host other than the balancer's holds a node: nothing to drain" };
      const load = new SessionLoad(ctx, ctx.load);
      await load.open();
      load.start();
      const t0 = performance.now();
      let drainedMs = 0;
      let backMs = 0;
      try {
        await load.run(800);
        mark(ctx, "drain", `drain ${host.host.hostname}`);
        await driver.setHostAvailability({ host: host.host.id, availability: "drain" });
        try {
          await waitUntil(
            `every node on ${host.host.hostname} stopped`,
            async () => {
              const r = await driver.inspect({ nodes: host.nodes });
              return host.nodes.every((n) => r[n]?.state === "stopped");
            },
            { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: driver.pollMs, signal: ctx.signal },
          );
          drainedMs = performance.now() - t0;
          mark(ctx, "step", `${host.host.hostname} drained`);
          await load.run(1500);
        } finally {
          mark(ctx, "active", `${host.host.hostname} active`);
          await driver.setHostAvailability({ host: host.host.id, availability: "active" });
        }
        const t1 = performance.now();
        // (not waitHealthy: a task Swarm could not place while its host was drained reads failed until it is placed)
        await waitUntil(
          `every node on ${host.host.hostname} back and healthy`,
          async () => {
            const r = await driver.inspect({ nodes: host.nodes });
            return host.nodes.every((n) => r[n]?.state === "running");
          },
          { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: driver.pollMs, signal: ctx.signal },
        );
        backMs = performance.now() - t1;
        mark(ctx, "back", `${host.nodes.join(", ")} back`);
        // nginx may still count a returned app node as failed: a reload puts it back at once
        if (host.nodes.some((n) => n.startsWith("app"))) await reloadBalancer(driver, { signal: ctx.signal });
        await load.run(1000);
      } finally {
        await load.stop();
      }
      const end = await load.check();
      const c = load.counts;
      const ok = [c.failed, c.empty, c.stale, end.failed, end.empty, end.stale].every((n) => n === 0);
      return {
        ok,
        detail:
          `${host.host.hostname} drained (${host.nodes.join(", ")} stopped in ${(drainedMs / 1000).toFixed(1)} s) and made active again (back and healthy in ${(backMs / 1000).toFixed(1)} s) under ${load.size} sessions: ${describeCounts(c)}; at the end ${end.empty} empty, ${end.stale} stale` +
          (ok ? "" : ` — ${load.samples.join("; ")}`),
        data: {
          host: host.host,
          nodes: host.nodes,
          drainedMs,
          backMs,
          during: c,
          end,
          samples: load.samples,
        },
      };
    }),
  ];
}

export const hostDrain: Scenario = {
  name: "host-drain",
  readOnly: false,
  run,
  byDefault: (t) => t.runtime === "swarm",
};
