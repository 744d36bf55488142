import type { ScenarioContext } from "./context.js";
import type { Check, VerifyReport } from "./report.js";
import { RUNNERS, type ScenarioName } from "./scenarios.js";

const READ_ONLY: ScenarioName[] = ["health", "effective-config", "session-store"];

/**
 * Run the scenarios in order and return the report. When the health check fails, the scenarios
 * that kill or restart nodes are not run (each is reported as a failed check saying why): their
 * results would only repeat that the cluster was broken to begin with.
 */
export async function runVerify(
  ctx: ScenarioContext,
  scenarios: ScenarioName[],
  runtime: string,
): Promise<VerifyReport> {
  const t0 = performance.now();
  const checks: Check[] = [];
  let healthy = true;
  for (const name of scenarios) {
    ctx.signal?.throwIfAborted();
    if (!healthy && !READ_ONLY.includes(name)) {
      checks.push({
        name,
        scenario: name,
        ok: false,
        detail: "not run: the cluster is not healthy (see the health check)",
        durationMs: 0,
      });
      continue;
    }
    const result = await ctx.reporter
      .step(`verify ${name}`, async () => {
        const r = await RUNNERS[name](ctx);
        if (r.some((c) => !c.ok)) throw Object.assign(new Error(name), { checks: r });
        return r;
      })
      .catch((err: Error & { checks?: Check[] }) => {
        if (err.checks) return err.checks;
        throw err;
      });
    checks.push(...result);
    if (name === "health" && result.some((c) => !c.ok)) healthy = false;
  }
  return {
    cluster: ctx.cluster.topology.name,
    runtime,
    ok: checks.every((c) => c.ok),
    durationMs: Math.round(performance.now() - t0),
    checks,
  };
}
