import path from "node:path";
import { writeFileAtomically } from "../files/write.js";
import { PROBE_PATH, PROBE_SECRET_HEADER } from "../render/index.js";
import type { OpenCluster } from "../runtime/index.js";
import { throwIfAborted } from "../runtime/kit/index.js";
import type { Progress } from "../runtime/lifecycle.js";
import { appNodes, type ScenarioContext } from "./context.js";
import { withScenarioContext } from "./failover.js";
import { junitXml } from "./junit.js";
import { defaultScenarios, type ScenarioName, scenarioNamed } from "./registry.js";
import type { Check, VerifyReport } from "./report.js";

/**
 * Run the scenarios in order and return the report. When the health check fails, the scenarios
 * that kill or restart nodes are not run (each is reported as a failed check saying why): their
 * results would only repeat that the cluster was broken to begin with.
 */
export async function runVerify(ctx: ScenarioContext, scenarios: ScenarioName[]): Promise<VerifyReport> {
  const t0 = performance.now();
  const checks: Check[] = [];
  let healthy = true;
  for (const name of scenarios) {
    throwIfAborted(ctx.signal);
    const scenario = scenarioNamed(name);
    if (!healthy && !scenario.readOnly) {
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
        const r = await scenario.run(ctx);
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
  const durationMs = Math.round(performance.now() - t0);
  const versions = await collectVersions(ctx);
  return {
    cluster: ctx.driver.cluster.topology.name,
    runtime: ctx.driver.name,
    ok: checks.every((c) => c.ok),
    durationMs,
    checks,
    ...(Object.keys(versions).length > 0 ? { versions } : {}),
  };
}

/**
 * What the app nodes run, from each one's probe (best effort: a node that does not answer is
 * left out, and the report says nothing rather than fail); values that differ are listed together.
 */
async function collectVersions(ctx: ScenarioContext): Promise<Record<string, string>> {
  const seen = new Map<string, Set<string>>();
  const add = (key: string, value: unknown) => {
    if (typeof value !== "string" || value === "") return;
    seen.set(key, (seen.get(key) ?? new Set()).add(value));
  };
  const balancer = ctx.driver.balancerVersion().catch(() => undefined);
  await Promise.all(
    appNodes(ctx)
      .filter((n) => !ctx.down.has(n))
      .map(async (node) => {
        try {
          const reply = await ctx.driver.httpGetNode({
            node,
            path: `${PROBE_PATH}?action=ini`,
            headers: { [PROBE_SECRET_HEADER]: ctx.secret },
          });
          if (reply.status !== 200) return;
          const v = (JSON.parse(reply.body) as { versions?: Record<string, unknown> }).versions ?? {};
          for (const key of ["php", "server", "memcached", "libmemcached"]) add(key, v[key]);
          const servers = v.memcachedServers;
          if (servers && typeof servers === "object")
            for (const version of Object.values(servers)) add("memcachedServers", version);
        } catch {
          // a node that does not answer has no version to tell
        }
      }),
  );
  add("balancer", await balancer);
  return Object.fromEntries([...seen].map(([k, values]) => [k, [...values].sort().join(", ")]));
}

export interface VerifyOptions {
  scenarios?: ScenarioName[] | undefined;
  /** Also write the report as JUnit XML here (absolute). */
  junit?: string | undefined;
  /** Also write the report as one self-contained HTML file here (absolute). */
  html?: string | undefined;
}

/** `phpcluster verify`: the cluster must run; holds its lock; restores whatever a scenario left down. */
export async function verifyCluster(
  open: OpenCluster,
  opts: VerifyOptions,
  progress: Progress & { load?: { sessions?: number } },
): Promise<VerifyReport> {
  const scenarios = opts.scenarios?.length ? opts.scenarios : defaultScenarios(open.cluster.topology);
  const report = await withScenarioContext(open, "verify", progress, (ctx) => runVerify(ctx, scenarios));
  if (opts.junit) await writeFileAtomically(path.resolve(opts.junit), await junitXml(report));
  if (opts.html) {
    const { verifyHtml } = await import("./report-html.js"); // only with --report
    await writeFileAtomically(path.resolve(opts.html), await verifyHtml(report));
  }
  return report;
}
