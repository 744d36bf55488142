import type { Command } from "commander";
import type { App } from "../cli.js";
import type { WriteAction } from "../files/write.js";
import type { Style } from "../output/index.js";
import { type RenderProjectResult, renderProject } from "../runtime/project.js";
import { formatIssue, type RuntimeChoice } from "../topology/index.js";
import { examples, runtimeOption } from "./common.js";

export type RenderResult = Omit<RenderProjectResult, "warnings">;

export function formatRender(r: RenderResult, s: Style): string {
  const mark: Record<WriteAction, string> = r.dryRun
    ? {
        created: s.ok("would create"),
        changed: s.warn("would change"),
        unchanged: s.dim("unchanged   "),
      }
    : {
        created: s.ok("created  "),
        changed: s.warn("changed  "),
        unchanged: s.dim("unchanged"),
      };
  const lines = r.files.map((f) => `  ${mark[f.action]} ${f.path}`);
  const count = (a: WriteAction) => r.files.filter((f) => f.action === a).length;
  const verb = r.dryRun ? "would write" : "wrote";
  lines.push(
    `${r.dryRun ? s.warn("dry run:") : s.ok("✔")} ${verb} ${count("created")} created, ${count("changed")} changed, ` +
      `${count("unchanged")} unchanged in ${s.path(r.outDir)} (${r.runtime})`,
  );
  return lines.join("\n");
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description("write every rendered file; list created / changed / unchanged")
    .option(
      "-o, --out <dir>",
      "output directory (default: .phpcluster/<name>/<runtime>/ beside the topology)",
    )
    .addOption(runtimeOption())
    .option("--dry-run", "show what would be written, write nothing")
    .addHelpText(
      "after",
      examples([
        "phpcluster render",
        "phpcluster render --runtime compose --out deploy/",
        "phpcluster render --dry-run --json",
      ]),
    )
    .action(async (opts: { out?: string; runtime?: RuntimeChoice; dryRun?: boolean }, command: Command) => {
      const ctx = app.context(command);
      const { warnings, ...result } = await renderProject(ctx, { ...opts, dryRun: Boolean(opts.dryRun) });
      for (const w of warnings) ctx.reporter.warn(formatIssue(w));
      ctx.reporter.result(ctx.command, result, formatRender);
    });
}
