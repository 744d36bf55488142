import type { Command } from "commander";
import type { Context } from "../context.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { type RestartReport, restartNodes } from "../runtime/lifecycle.js";
import type { RuntimeChoice } from "../topology/index.js";
import { baseCommand, type CommonOptions, durationOption, examples, runtimeOption } from "./common.js";

export interface RestartOptions extends CommonOptions {
  runtime?: RuntimeChoice;
  allAtOnce?: boolean;
  timeout: number;
}

export async function runRestart(
  nodes: string[],
  opts: RestartOptions,
  ctx: Context,
): Promise<RestartReport> {
  const { cluster, driver } = await openCluster(opts.file, ctx.cwd, opts.runtime);
  return restartNodes(cluster, driver, nodes, {
    allAtOnce: Boolean(opts.allAtOnce),
    timeoutMs: opts.timeout,
    reporter: ctx.reporter,
  });
}

export function formatRestart(r: RestartReport, s: Style): string {
  return `${s.ok("✔")} restarted ${r.restarted.join(", ")} (${r.mode})`;
}

export function restartCommand(getCtx: () => Context): Command {
  return baseCommand(
    "restart",
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
    .option("--timeout <duration>", "bound on each node becoming healthy again", durationOption, 60_000)
    .addHelpText(
      "after",
      examples([
        "phpcluster restart",
        "phpcluster restart app2",
        "phpcluster restart lb",
        "phpcluster restart --all-at-once",
      ]),
    )
    .action(async (nodes: string[], opts: RestartOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("restart", await runRestart(nodes, opts, ctx), formatRestart);
    });
}
