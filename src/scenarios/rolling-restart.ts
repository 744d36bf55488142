import { sleep } from "../runtime/kit/index.js";
import { restartInPlace } from "../runtime/lifecycle.js";
import { appNodes, markingReporter, type ScenarioContext } from "./context.js";
import { openSession } from "./failover.js";
import { type Check, recorded, type Scenario } from "./report.js";

const ROLLING_SESSIONS = 4;

async function run(ctx: ScenarioContext): Promise<Check[]> {
  return [
    await recorded(ctx, "rolling-restart", "rolling-restart", async () => {
      const sessions = await Promise.all(Array.from({ length: ROLLING_SESSIONS }, () => openSession(ctx)));
      let stop = false;
      const stats = { requests: 0, failed: 0, wentBack: 0, lost: 0, maxMs: 0, samples: [] as string[] };
      const t0 = performance.now();
      const loops = sessions.map(async (s) => {
        let counter = s.last.body.counter ?? 0;
        let lastNode = s.last.servedBy;
        const sid = s.last.body.sessionId;
        while (!stop && !ctx.signal?.aborted && stats.requests < 50_000) {
          const r = await s.client.probe();
          stats.requests++;
          stats.maxMs = Math.max(stats.maxMs, r.ms);
          if (r.status !== 200) {
            stats.failed++;
            ctx.recording?.classify(r, "failed");
            if (stats.samples.length < 3)
              stats.samples.push(`HTTP ${r.status} ${r.error ?? r.body.error ?? ""}`.trim());
            continue;
          }
          if (r.body.sessionId !== sid || r.body.nonce !== s.nonce) {
            stats.lost++;
            ctx.recording?.classify(r, "empty");
          } else if ((r.body.counter ?? 0) <= counter) {
            stats.wentBack++;
            ctx.recording?.classify(r, "stale");
            // which session, which nodes, when: what a reader of the report needs to find it in the logs
            if (stats.samples.length < 3)
              stats.samples.push(
                `session ${sid?.slice(0, 8)}…: counter ${r.body.counter ?? "none"} after ${counter} (from ${r.servedBy ?? "?"}, the one before from ${lastNode ?? "?"}) at ${Math.round(performance.now() - t0)} ms`,
              );
          }
          counter = r.body.counter ?? counter;
          lastNode = r.servedBy;
        }
      });
      let restartError: Error | undefined;
      try {
        await sleep(200, ctx.signal);
        await restartInPlace(ctx.driver, appNodes(ctx), {
          allAtOnce: false,
          timeoutMs: 60_000,
          reporter: markingReporter(ctx),
          signal: ctx.signal,
        });
        await sleep(200, ctx.signal);
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

/** Every app node restarted one at a time under load: 0 failed requests, 0 lost sessions, counters never go back. */
export const rollingRestart: Scenario = { name: "rolling-restart", readOnly: false, run };
