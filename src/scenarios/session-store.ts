import { throwIfAborted } from "../runtime/kit/index.js";
import { holders, holdersOf, type ScenarioContext, sessionKey, topologyOf } from "./context.js";
import { openSession } from "./failover.js";
import { type Check, type Scenario, timed } from "./report.js";
import type { SessionClient } from "./session-client.js";

const STORE_SESSIONS = 20;

async function run(ctx: ScenarioContext): Promise<Check[]> {
  return [
    await timed("session-store", "session-store", async () => {
      const want = topologyOf(ctx).sessions.replicas + 1;
      const sessions: { client: SessionClient; sid: string }[] = [];
      for (let i = 0; i < STORE_SESSIONS; i++) {
        throwIfAborted(ctx.signal);
        const { client, last } = await openSession(ctx);
        sessions.push({ client, sid: last.body.sessionId ?? "" });
      }
      const problems: string[] = [];
      const perNode: Record<string, number> = {};
      const stored = await holdersOf(
        ctx,
        sessions.map((s) => sessionKey(s.sid)),
      );
      for (const s of sessions) {
        const found = stored[sessionKey(s.sid)] ?? {};
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

/** Sessions through the balancer: every session key is in Memcached (on replicas + 1 nodes), and a request rewrites it. */
export const sessionStore: Scenario = { name: "session-store", readOnly: true, run };
