import path from "node:path";
import type { Command } from "commander";
import type { Context } from "../context.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { destroyCluster } from "../runtime/lifecycle.js";
import type { RuntimeChoice, RuntimeName } from "../topology/index.js";
import { baseCommand, type CommonOptions, examples, runtimeOption } from "./common.js";

export interface DestroyOptions extends CommonOptions {
  runtime?: RuntimeChoice;
}

export interface DestroyResult {
  name: string;
  runtime: RuntimeName;
  removed: string;
}

export async function runDestroy(opts: DestroyOptions, ctx: Context): Promise<DestroyResult> {
  const { loaded, runtime, cluster, driver } = await openCluster(opts.file, ctx.cwd, opts.runtime);
  await destroyCluster(cluster, driver, ctx.reporter);
  return {
    name: loaded.topology.name,
    runtime,
    removed: path.relative(ctx.cwd, cluster.stateDir) || cluster.stateDir,
  };
}

export function formatDestroy(r: DestroyResult, s: Style): string {
  return `${s.ok("✔")} cluster ${s.bold(r.name)} destroyed: every node stopped, ${s.path(r.removed)} removed`;
}

export function destroyCommand(getCtx: () => Context): Command {
  return baseCommand("destroy", "stop everything and remove what create made (none of your files)")
    .addOption(runtimeOption())
    .addHelpText("after", examples(["phpcluster destroy", "phpcluster destroy -f staging.yml --json"]))
    .action(async (opts: DestroyOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("destroy", await runDestroy(opts, ctx), formatDestroy);
    });
}
