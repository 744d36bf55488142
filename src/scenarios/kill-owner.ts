import { fail } from "../errors.js";
import { appNodes, type ScenarioContext } from "./context.js";
import { openSession, runFailover } from "./failover.js";
import { type Check, recorded, type Scenario } from "./report.js";

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
  throw fail.runtime("SESSION_FAILED", `could not get a session served by ${node}`);
}

async function run(ctx: ScenarioContext): Promise<Check[]> {
  const checks: Check[] = [];
  for (const node of appNodes(ctx)) {
    checks.push(
      await recorded(ctx, "kill-owner", `kill-owner ${node}`, async () => {
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

/** For each app node: a session served by it, the node SIGKILLed, the session served by another node with its data. */
export const killOwner: Scenario = { name: "kill-owner", readOnly: false, run };
