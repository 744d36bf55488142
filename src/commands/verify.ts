import path from "node:path";
import { type Command, Option } from "commander";
import type { App } from "../cli.js";
import { fail } from "../errors.js";
import { shownPath } from "../files/paths.js";
import type { Style } from "../output/index.js";
import { table } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { SCENARIOS, type ScenarioName } from "../scenarios/registry.js";
import type { VerifyReport } from "../scenarios/report.js";
import { verifyCluster } from "../scenarios/verify.js";
import type { RuntimeChoice } from "../topology/index.js";
import { examples, positiveInt, runtimeOption } from "./common.js";

/** The verify report: one row a check, its DETAIL wrapped to fit `width` (unset: no limit). */
export function formatVerify(r: VerifyReport, s: Style, width?: number): string {
  const rows = r.checks.map((c) => [
    c.name,
    c.ok ? "pass" : "FAIL",
    `${(c.durationMs / 1000).toFixed(1)}s`,
    c.detail,
  ]);
  return [
    table(["CHECK", "RESULT", "TIME", "DETAIL"], rows, {
      style: (row, col, text) => (col === 1 ? (r.checks[row]?.ok ? s.ok(text) : s.err(text)) : text),
      width,
    }),
    `${r.ok ? s.ok("✔") : s.err("✖")} ${r.checks.filter((c) => c.ok).length} of ${r.checks.length} checks passed in ${(r.durationMs / 1000).toFixed(1)} s`,
    ...(r.junit ? [`JUnit report written to ${s.path(r.junit)}`] : []),
    ...(r.html ? [`HTML report written to ${s.path(r.html)}`] : []),
  ].join("\n");
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description(
      "the full proof: healthy nodes, memcached handler effective everywhere, sessions in Memcached, a session surviving node loss and a rolling restart",
    )
    .addOption(new Option("--scenario <name...>", "run only these scenarios").choices([...SCENARIOS]))
    .option("--junit <file>", "also write the report as JUnit XML")
    .option(
      "--report <file>",
      "also write the report as one self-contained HTML file, with a timeline of every request",
    )
    .option(
      "--sessions <n>",
      "sessions the load scenarios keep busy (memcached-node-loss, memcached-restart)",
      positiveInt,
      200,
    )
    .addOption(runtimeOption())
    .addHelpText(
      "after",
      examples([
        "phpcluster verify",
        "phpcluster verify --json --junit report.xml",
        "phpcluster verify --report report.html",
        "phpcluster verify --scenario health effective-config",
      ]),
    )
    .action(
      async (
        opts: {
          runtime?: RuntimeChoice;
          scenario?: ScenarioName[];
          junit?: string;
          report?: string;
          sessions: number;
        },
        command: Command,
      ) => {
        const ctx = app.context(command);
        const junit = opts.junit ? path.resolve(ctx.cwd, opts.junit) : undefined;
        const html = opts.report ? path.resolve(ctx.cwd, opts.report) : undefined;
        const report = await verifyCluster(
          await openCluster(ctx, opts.runtime),
          { scenarios: opts.scenario, junit, html },
          { reporter: ctx.reporter, signal: ctx.signal, load: { sessions: opts.sessions } },
        );
        if (junit) report.junit = shownPath(ctx.cwd, junit);
        if (html) report.html = shownPath(ctx.cwd, html);
        if (!report.ok) {
          ctx.reporter.detail(report, formatVerify);
          const failed = report.checks.filter((c) => !c.ok);
          throw fail.verifyFailed(`verify failed: ${failed.map((c) => c.name).join(", ")}`, {
            report,
            failed: failed.map((c) => ({ name: c.name, detail: c.detail })),
          });
        }
        ctx.reporter.result(ctx.command, report, formatVerify);
      },
    );
}
