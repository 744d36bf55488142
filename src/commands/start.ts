import type { Command } from "commander";
import type { App } from "../cli.js";
import { openCluster } from "../runtime/index.js";
import { startCluster } from "../runtime/lifecycle.js";
import type { RuntimeChoice } from "../topology/index.js";
import { examples, runtimeOption, timeoutOption } from "./common.js";
import { formatUp } from "./up.js";

export function configure(cmd: Command, app: App): void {
  cmd
    .description("start a stopped cluster (every node, in order, each healthy before the next)")
    .addOption(runtimeOption())
    .addOption(timeoutOption("bound on bringing the nodes up", 120_000))
    .addHelpText("after", examples(["phpcluster start", "phpcluster start --json"]))
    .action(async (opts: { runtime?: RuntimeChoice; timeout: number }, command: Command) => {
      const ctx = app.context(command);
      const result = await startCluster(await openCluster(ctx, opts.runtime), {
        timeoutMs: opts.timeout,
        signal: ctx.signal,
        reporter: ctx.reporter,
      });
      ctx.reporter.result(ctx.command, result, formatUp);
    });
}
