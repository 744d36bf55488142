import path from "node:path";
import type { Command } from "commander";
import type { App } from "../cli.js";
import { fail } from "../errors.js";
import { shownPath } from "../files/paths.js";
import type { Style } from "../output/index.js";
import type { LogChunk } from "../runtime/driver.js";
import { openCluster } from "../runtime/index.js";
import { clusterLogs, followClusterLogs } from "../runtime/lifecycle.js";
import { clusterNodes, type RuntimeChoice } from "../topology/index.js";
import { examples, runtimeOption, wholeNumber } from "./common.js";

/** Each node's lines under its log's name: a log file by shownPath from `cwd`, a command as it is. */
export function formatLogs(r: { logs: LogChunk[] }, s: Style, cwd?: string): string {
  const shown = (file: string) => (cwd !== undefined && path.isAbsolute(file) ? shownPath(cwd, file) : file);
  return r.logs
    .map((c) => [s.bold(`==> ${c.node}: ${shown(c.file)} <==`), ...c.lines].join("\n"))
    .join("\n\n");
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description("node logs (health probes are not logged)")
    .argument("[node]", "one node (default: every node)")
    .option("-n, --tail <lines>", "last lines of each log (0: none)", wholeNumber, 50)
    .option("--follow", "keep printing new lines, every node's merged with its name in front, until Ctrl-C")
    .addOption(runtimeOption())
    .addHelpText(
      "after",
      examples(["phpcluster logs", "phpcluster logs app1 --tail 200", "phpcluster logs --follow -n 0"]),
    )
    .action(
      async (
        node: string | undefined,
        opts: { runtime?: RuntimeChoice; tail: number; follow?: boolean },
        command: Command,
      ) => {
        const ctx = app.context(command);
        if (opts.follow && ctx.reporter.mode === "json")
          throw fail.usage(
            "--follow streams lines as they come and --json prints one document: use one of them",
          );
        const open = await openCluster(ctx, opts.runtime);
        if (!opts.follow) {
          ctx.reporter.result(ctx.command, await clusterLogs(open, { node, tail: opts.tail }), (r, s) =>
            formatLogs(r, s, ctx.cwd),
          );
          return;
        }
        const width = Math.max(...clusterNodes(open.cluster.topology).map((n) => n.name.length));
        const result = await followClusterLogs(open, {
          node,
          tail: opts.tail,
          signal: ctx.signal,
          onLine: (from, line) => ctx.reporter.line(`${from.padEnd(width)} | ${line}`),
        });
        ctx.reporter.result(ctx.command, result, () => "");
      },
    );
}
