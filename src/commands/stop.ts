import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { type StopResult, stopCluster } from "../runtime/lifecycle.js";
import type { RuntimeChoice } from "../topology/index.js";
import { examples, runtimeOption } from "./common.js";

export function formatStop(r: StopResult, s: Style): string {
  return r.stopped.length === 0
    ? `${s.ok("✔")} cluster ${s.bold(r.name)} was stopped already`
    : `${s.ok("✔")} cluster ${s.bold(r.name)} stopped (${r.stopped.join(", ")}); its state is kept: ${s.bold("phpcluster start")} brings it back`;
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description(
      "stop every node (the balancer first, memcached last) and keep the state: files, secret, sessions",
    )
    .addOption(runtimeOption())
    .addHelpText("after", examples(["phpcluster stop", "phpcluster stop --json"]))
    .action(async (opts: { runtime?: RuntimeChoice }, command: Command) => {
      const ctx = app.context(command);
      const result = await stopCluster(await openCluster(ctx, opts.runtime), {
        signal: ctx.signal,
        reporter: ctx.reporter,
      });
      ctx.reporter.result(ctx.command, result, formatStop);
    });
}
