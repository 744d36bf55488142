import type { Command } from "commander";
import type { App } from "../../cli.js";
import { editConfig, parsePairs } from "../../runtime/config-change.js";
import { formatIssue } from "../../topology/index.js";
import { formatSet, NODE_OPTION } from "./format.js";

export function configure(cmd: Command, app: App): void {
  cmd
    .argument("<pairs...>", "KEY=VALUE")
    .option(...NODE_OPTION)
    .option("--apply", "restart the nodes the change needs (app nodes one at a time, drained)")
    .action(async (pairs: string[], opts: { node?: string; apply?: boolean }, command: Command) => {
      const ctx = app.context(command);
      const { warnings, ...result } = await editConfig(ctx, parsePairs(pairs), {
        node: opts.node,
        apply: Boolean(opts.apply),
        reporter: ctx.reporter,
        signal: ctx.signal,
      });
      for (const w of warnings) ctx.reporter.warn(formatIssue(w));
      ctx.reporter.result(ctx.command, result, formatSet);
    });
}
