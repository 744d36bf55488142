import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import type { LogChunk } from "../runtime/driver.js";
import { openCluster } from "../runtime/index.js";
import { clusterLogs } from "../runtime/lifecycle.js";
import type { RuntimeChoice } from "../topology/index.js";
import { examples, positiveInt, runtimeOption } from "./common.js";

export function formatLogs(r: { logs: LogChunk[] }, s: Style): string {
  return r.logs.map((c) => [s.bold(`==> ${c.node}: ${c.file} <==`), ...c.lines].join("\n")).join("\n\n");
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description("node logs")
    .argument("[node]", "one node (default: every node)")
    .option("-n, --tail <lines>", "last lines of each log", positiveInt, 50)
    .addOption(runtimeOption())
    .addHelpText("after", examples(["phpcluster logs", "phpcluster logs app1 --tail 200"]))
    .action(
      async (node: string | undefined, opts: { runtime?: RuntimeChoice; tail: number }, command: Command) => {
        const ctx = app.context(command);
        const open = await openCluster(ctx, opts.runtime);
        ctx.reporter.result(ctx.command, await clusterLogs(open, { node, tail: opts.tail }), formatLogs);
      },
    );
}
