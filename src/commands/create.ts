import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { type CreateResult, createCluster } from "../runtime/lifecycle.js";
import { formatIssue, type RuntimeChoice } from "../topology/index.js";
import { examples, formatNodes, runtimeOption, timeoutOption } from "./common.js";

export function formatCreate(r: CreateResult, s: Style, width?: number): string {
  return [
    `${s.ok("✔")} cluster ${s.bold(r.name)} is up (${r.runtime}): ${s.path(r.url)}`,
    formatNodes(r.nodes, s, width),
    s.dim("next: phpcluster verify · phpcluster status · phpcluster destroy"),
  ].join("\n");
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description("validate, render, bring the cluster up and wait until every node is healthy")
    .addOption(runtimeOption())
    .addOption(timeoutOption("bound on bringing every node up", 120_000))
    .addHelpText(
      "after",
      examples(["phpcluster create", "phpcluster create --runtime native --timeout 60s --json"]),
    )
    .action(async (opts: { runtime?: RuntimeChoice; timeout: number }, command: Command) => {
      const ctx = app.context(command);
      const open = await openCluster(ctx, opts.runtime);
      for (const w of open.loaded.warnings) ctx.reporter.warn(formatIssue(w));
      if (open.autoReason) ctx.reporter.info(`runtime auto picked ${open.runtime}: ${open.autoReason}`);
      const result = await createCluster(open, {
        timeoutMs: opts.timeout,
        signal: ctx.signal,
        reporter: ctx.reporter,
      });
      ctx.reporter.result(ctx.command, result, formatCreate);
    });
}
