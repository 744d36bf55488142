import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { type RestartReport, restartNodes } from "../runtime/lifecycle.js";
import type { RuntimeChoice } from "../topology/index.js";
import { examples, runtimeOption, timeoutOption } from "./common.js";

export function formatRestart(r: RestartReport, s: Style): string {
  return `${s.ok("✔")} restarted ${r.restarted.join(", ")} (${r.mode})`;
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description(
      "apply the rendered config: app nodes one at a time, each drained from the balancer first; the balancer with nginx -t and a graceful reload",
    )
    .argument(
      "[node...]",
      "nodes to restart (default: every app node and lb; memcached nodes only when named)",
    )
    .option(
      "--all-at-once",
      "restart the app nodes together, without draining (requests will fail meanwhile)",
    )
    .addOption(runtimeOption())
    .addOption(timeoutOption("bound on each node becoming healthy again", 60_000))
    .addHelpText(
      "after",
      examples([
        "phpcluster restart",
        "phpcluster restart app2",
        "phpcluster restart lb",
        "phpcluster restart --all-at-once",
      ]),
    )
    .action(
      async (
        nodes: string[],
        opts: { runtime?: RuntimeChoice; allAtOnce?: boolean; timeout: number },
        command: Command,
      ) => {
        const ctx = app.context(command);
        const report = await restartNodes(await openCluster(ctx, opts.runtime), nodes, {
          allAtOnce: Boolean(opts.allAtOnce),
          timeoutMs: opts.timeout,
          reporter: ctx.reporter,
          signal: ctx.signal,
        });
        ctx.reporter.result(ctx.command, report, formatRestart);
      },
    );
}
