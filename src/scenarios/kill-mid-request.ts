import { sleep, throwIfAborted } from "../runtime/kit/index.js";
import { holders, lockKey, restore, type ScenarioContext, takeDown, topologyOf } from "./context.js";
import { openSession } from "./failover.js";
import { type Check, recorded, type Scenario } from "./report.js";
import type { ProbeReply } from "./session-client.js";

const STALL_MARGIN_MS = 2500;

async function run(ctx: ScenarioContext): Promise<Check[]> {
  const lockExpireMs = topologyOf(ctx).sessions.lockExpireMs;
  let target: string | undefined;
  const checks = [
    await recorded(ctx, "kill-mid-request", "kill-mid-request", async () => {
      if (!topologyOf(ctx).sessions.locking) {
        return { ok: true, detail: "sessions.locking is off: no lock can be orphaned" };
      }
      const { client, nonce, last } = await openSession(ctx);
      const sid = last.body.sessionId ?? "";
      const counter = last.body.counter ?? 0;
      const hold = client.holdLock(Math.min(30_000, lockExpireMs * 4));
      const holding = await hold.holding.catch((err: Error) => {
        throwIfAborted(ctx.signal);
        throw err;
      });
      target = holding.node ?? "";
      const lockBefore = await holders(ctx, lockKey(sid));
      await takeDown(ctx, target, "kill");
      const tKill = performance.now();
      await hold.done;
      throwIfAborted(ctx.signal);
      const orphaned = Object.keys(await holders(ctx, lockKey(sid)));
      const replies: ProbeReply[] = [];
      let good: ProbeReply | undefined;
      const deadline = tKill + lockExpireMs + STALL_MARGIN_MS + 10_000;
      while (performance.now() < deadline && replies.length < 500) {
        throwIfAborted(ctx.signal);
        const r = await client.probe();
        replies.push(r);
        if (r.status === 200) {
          good = r;
          break;
        }
        await sleep(50, ctx.signal);
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
  if (target && ctx.down.has(target)) await restore(ctx, target).catch(() => {});
  return checks;
}

/** A node killed while it holds a session's lock: the session serves its data again within lockExpire. */
export const killMidRequest: Scenario = { name: "kill-mid-request", readOnly: false, run };
