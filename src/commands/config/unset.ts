import type { Command } from "commander";
import type { App } from "../../cli.js";
import { editConfig } from "../../runtime/config-change.js";
import { formatIssue } from "../../topology/index.js";
import { formatSet, NODE_OPTION } from "./format.js";

export function configure(cmd: Command, app: App): void {
  cmd
    .argument("<keys...>", "keys to remove")
    .option(...NODE_OPTION)
    .option("--apply", "restart the nodes the change needs")
    .action(async (keys: string[], opts: { node?: string; apply?: boolean }, command: Command) => {
      const ctx = app.context(command);
      const { warnings, ...result } = await editConfig(
        ctx,
        keys.map((key) => ({ key, value: undefined })),
        { node: opts.node, apply: Boolean(opts.apply), reporter: ctx.reporter, signal: ctx.signal },
      );
      for (const w of warnings) ctx.reporter.warn(formatIssue(w));
      ctx.reporter.result(ctx.command, result, formatSet);
    });
}
