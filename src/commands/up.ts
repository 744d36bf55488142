import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { type UpResult, upCluster } from "../runtime/lifecycle.js";
import { formatIssue, type RuntimeChoice } from "../topology/index.js";
import { examples, formatNodes, runtimeOption, timeoutOption } from "./common.js";

export function formatUp(r: UpResult, s: Style, width?: number): string {
  const what = r.created
    ? "created"
    : r.started.length === 0
      ? "already up, nothing to do"
      : `started ${r.started.join(", ")}`;
  return [
    `${s.ok("✔")} cluster ${s.bold(r.name)} is up (${r.runtime}, ${what}): ${s.path(r.url)}`,
    formatNodes(r.nodes, s, width),
  ].join("\n");
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description(
      "converge: create the cluster if it does not exist, start what is stopped, restart what is unhealthy (memcached warm); a healthy cluster is left as it is",
    )
    .addOption(runtimeOption())
    .addOption(timeoutOption("bound on bringing the nodes up", 120_000))
    .addHelpText("after", examples(["phpcluster up", "phpcluster up --json"]))
    .action(async (opts: { runtime?: RuntimeChoice; timeout: number }, command: Command) => {
      const ctx = app.context(command);
      const open = await openCluster(ctx, opts.runtime);
      for (const w of open.loaded.warnings) ctx.reporter.warn(formatIssue(w));
      if (open.autoReason) ctx.reporter.info(`runtime auto picked ${open.runtime}: ${open.autoReason}`);
      const result = await upCluster(open, {
        timeoutMs: opts.timeout,
        signal: ctx.signal,
        reporter: ctx.reporter,
      });
      ctx.reporter.result(ctx.command, result, formatUp);
    });
}
