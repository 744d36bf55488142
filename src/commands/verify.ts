import { writeFile } from "node:fs/promises";
import path from "node:path";
import { type Command, Option } from "commander";
import type { Context } from "../context.js";
import { RuntimeError, VerifyFailedError } from "../errors.js";
import type { Style } from "../output/index.js";
import { table } from "../output/index.js";
import { lockCluster, readSecret } from "../runtime/cluster.js";
import { openCluster } from "../runtime/index.js";
import { junitXml } from "../scenarios/junit.js";
import type { VerifyReport } from "../scenarios/report.js";
import { defaultScenarios, SCENARIOS, type ScenarioName } from "../scenarios/scenarios.js";
import { runVerify } from "../scenarios/verify.js";
import type { RuntimeChoice } from "../topology/index.js";
import { baseCommand, type CommonOptions, examples, runtimeOption } from "./common.js";

export interface VerifyOptions extends CommonOptions {
  runtime?: RuntimeChoice;
  scenario?: ScenarioName[];
  junit?: string;
}

export async function runVerifyCommand(opts: VerifyOptions, ctx: Context): Promise<VerifyReport> {
  const { loaded, runtime, cluster, driver } = await openCluster(opts.file, ctx.cwd, opts.runtime);
  const secret = await readSecret(cluster.stateDir);
  if (!secret || !(await driver.exists(cluster))) {
    throw new RuntimeError("NOT_RUNNING", `cluster ${loaded.topology.name} is not running`, {
      hint: "start it with `phpcluster create`",
    });
  }
  const scenarios = opts.scenario?.length
    ? opts.scenario
    : defaultScenarios(loaded.topology.sessions.replicas);
  const lock = await lockCluster(cluster.stateDir, "verify");
  let report: VerifyReport;
  try {
    report = await runVerify(
      { cluster, driver, secret, reporter: ctx.reporter, signal: ctx.signal },
      scenarios,
      runtime,
    );
  } finally {
    await lock.release();
  }
  if (opts.junit) await writeFile(path.resolve(ctx.cwd, opts.junit), await junitXml(report));
  if (!report.ok) {
    ctx.reporter.detail(report, formatVerify);
    const failed = report.checks.filter((c) => !c.ok);
    throw new VerifyFailedError(`verify failed: ${failed.map((c) => c.name).join(", ")}`, {
      report,
      failed: failed.map((c) => ({ name: c.name, detail: c.detail })),
    });
  }
  return report;
}

export function formatVerify(r: VerifyReport, s: Style): string {
  const rows = r.checks.map((c) => [
    c.name,
    c.ok ? "pass" : "FAIL",
    `${(c.durationMs / 1000).toFixed(1)}s`,
    c.detail,
  ]);
  return [
    table(["CHECK", "RESULT", "TIME", "DETAIL"], rows, (row, col, text) =>
      col === 1 ? (r.checks[row]?.ok ? s.ok(text) : s.err(text)) : text,
    ),
    `${r.ok ? s.ok("✔") : s.err("✖")} ${r.checks.filter((c) => c.ok).length} of ${r.checks.length} checks passed in ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join("\n");
}

export function verifyCommand(getCtx: () => Context): Command {
  return baseCommand(
    "verify",
    "the full proof: healthy nodes, memcached handler effective everywhere, sessions in Memcached, a session surviving node loss and a rolling restart",
  )
    .addOption(new Option("--scenario <name...>", "run only these scenarios").choices([...SCENARIOS]))
    .option("--junit <file>", "also write the report as JUnit XML")
    .addOption(runtimeOption())
    .addHelpText(
      "after",
      examples([
        "phpcluster verify",
        "phpcluster verify --json --junit report.xml",
        "phpcluster verify --scenario health effective-config",
      ]),
    )
    .action(async (opts: VerifyOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("verify", await runVerifyCommand(opts, ctx), formatVerify);
    });
}
