import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { type DestroyResult, destroyCluster } from "../runtime/lifecycle.js";
import type { RuntimeChoice } from "../topology/index.js";
import { examples, runtimeOption } from "./common.js";

export function formatDestroy(r: DestroyResult, s: Style): string {
  if (!r.destroyed) return `${s.ok("✔")} nothing to destroy: cluster ${s.bold(r.name)} is not created`;
  return `${s.ok("✔")} cluster ${s.bold(r.name)} destroyed: every node stopped, ${s.path(r.removed)} removed`;
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description("stop everything and remove what create made (none of your files)")
    .addOption(runtimeOption())
    .addHelpText("after", examples(["phpcluster destroy", "phpcluster destroy -f staging.yml --json"]))
    .action(async (opts: { runtime?: RuntimeChoice }, command: Command) => {
      const ctx = app.context(command);
      const open = await openCluster(ctx, opts.runtime);
      ctx.reporter.result(
        ctx.command,
        await destroyCluster(open, { reporter: ctx.reporter, cwd: ctx.cwd }),
        formatDestroy,
      );
    });
}
