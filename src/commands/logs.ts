import { type Command, InvalidArgumentError } from "commander";
import type { Context } from "../context.js";
import type { Style } from "../output/index.js";
import type { LogChunk } from "../runtime/driver.js";
import { openCluster } from "../runtime/index.js";
import type { RuntimeChoice } from "../topology/index.js";
import { baseCommand, type CommonOptions, examples, runtimeOption } from "./common.js";

export interface LogsOptions extends CommonOptions {
  runtime?: RuntimeChoice;
  tail: number;
}

export async function runLogs(
  node: string | undefined,
  opts: LogsOptions,
  ctx: Context,
): Promise<{ logs: LogChunk[] }> {
  const { cluster, driver } = await openCluster(opts.file, ctx.cwd, opts.runtime);
  return { logs: await driver.logs(cluster, node, opts.tail) };
}

export function formatLogs(r: { logs: LogChunk[] }, s: Style): string {
  return r.logs.map((c) => [s.bold(`==> ${c.node}: ${c.file} <==`), ...c.lines].join("\n")).join("\n\n");
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return n;
}

export function logsCommand(getCtx: () => Context): Command {
  return baseCommand("logs", "node logs")
    .argument("[node]", "one node (default: every node)")
    .option("--tail <lines>", "last lines of each log", positiveInt, 50)
    .addOption(runtimeOption())
    .addHelpText("after", examples(["phpcluster logs", "phpcluster logs app1 --tail 200"]))
    .action(async (node: string | undefined, opts: LogsOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("logs", await runLogs(node, opts, ctx), formatLogs);
    });
}
