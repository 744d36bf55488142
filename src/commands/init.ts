import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import { type InitResult, initProject } from "../runtime/project.js";
import { examples } from "./common.js";

export function formatInit(r: InitResult, s: Style): string {
  return [
    ...r.files.map((f) => `  ${f.action === "created" ? s.ok("created") : s.warn(f.action)} ${f.path}`),
    ...(r.portNote ? [`  ${s.dim(r.portNote)}`] : []),
    `${s.ok("✔")} cluster ${s.bold(r.name)} initialised; next: ${s.bold("phpcluster validate")}, then ${s.bold("phpcluster create")}`,
  ].join("\n");
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description("write a commented phpcluster.yml and a sample public/index.php (session counter)")
    .option("--name <name>", "cluster name (default: from the directory name)")
    .option("--force", "overwrite existing files")
    .addHelpText(
      "after",
      examples(["phpcluster init", "phpcluster init --name shop -f deploy/phpcluster.yml"]),
    )
    .action(async (opts: { name?: string; force?: boolean }, command: Command) => {
      const ctx = app.context(command);
      ctx.reporter.result(
        ctx.command,
        await initProject(ctx, { name: opts.name, force: Boolean(opts.force) }),
        formatInit,
      );
    });
}
