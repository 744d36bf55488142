import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { type DestroyResult, destroyCluster } from "../runtime/lifecycle.js";
import type { RuntimeChoice } from "../topology/index.js";
import { examples, runtimeOption } from "./common.js";

const mb = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;

export function formatDestroy(r: DestroyResult, s: Style): string {
  const lines = [
    r.destroyed
      ? `${s.ok("✔")} cluster ${s.bold(r.name)} destroyed: every node stopped, ${s.path(r.removed)} removed`
      : `${s.ok("✔")} nothing to destroy: cluster ${s.bold(r.name)} is not created`,
  ];
  if (r.images.removed.length > 0)
    lines.push(`${s.ok("✔")} images removed: ${r.images.removed.join(", ")} (${mb(r.images.bytes)})`);
  if (r.images.kept.length > 0)
    lines.push(
      `  images kept: ${r.images.kept.join(", ")} (${mb(r.images.bytes)}, layers shared with the base image counted)`,
      s.dim("  they make the next create faster; phpcluster destroy --images removes them"),
    );
  for (const where of r.images.elsewhere) lines.push(s.dim(`  not removed: ${where}`));
  return lines.join("\n");
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description("stop everything and remove what create made (none of your files)")
    .addOption(runtimeOption())
    .option("--images", "remove the images create built too (compose, swarm)")
    .addHelpText(
      "after",
      examples([
        "phpcluster destroy",
        "phpcluster destroy --images",
        "phpcluster destroy -f staging.yml --json",
      ]),
    )
    .action(async (opts: { runtime?: RuntimeChoice; images?: boolean }, command: Command) => {
      const ctx = app.context(command);
      const open = await openCluster(ctx, opts.runtime);
      ctx.reporter.result(
        ctx.command,
        await destroyCluster(open, { reporter: ctx.reporter, cwd: ctx.cwd, images: Boolean(opts.images) }),
        formatDestroy,
      );
    });
}
