import path from "node:path";
import type { Command } from "commander";
import type { Context } from "../context.js";
import { applyWrites, planWrites, type WriteAction } from "../files/write-plan.js";
import type { Style } from "../output/index.js";
import { renderCluster } from "../render/index.js";
import { ensureStateRoot } from "../runtime/cluster.js";
import { resolveRuntime } from "../runtime/detect.js";
import { formatIssue, loadTopology, type RuntimeChoice, type RuntimeName } from "../topology/index.js";
import { baseCommand, type CommonOptions, examples, runtimeOption } from "./common.js";

export interface RenderOptions extends CommonOptions {
  out?: string;
  runtime?: RuntimeChoice;
  dryRun?: boolean;
}

export interface RenderResult {
  runtime: RuntimeName;
  outDir: string;
  dryRun: boolean;
  files: { path: string; action: WriteAction }[];
}

/** Where rendered files go by default: `.phpcluster/<name>/<runtime>/` beside the topology file. */
export function defaultOutDir(topologyDir: string, name: string, runtime: RuntimeName): string {
  return path.join(topologyDir, ".phpcluster", name, runtime);
}

export async function runRender(opts: RenderOptions, ctx: Context): Promise<RenderResult> {
  const loaded = await loadTopology(opts.file);
  for (const w of loaded.warnings) ctx.reporter.warn(formatIssue(w));
  const t = loaded.topology;
  const runtime = await resolveRuntime(opts.runtime ?? t.runtime);
  const outDir = opts.out ? path.resolve(ctx.cwd, opts.out) : defaultOutDir(loaded.dir, t.name, runtime);
  const root = path.resolve(loaded.dir, t.app.root);
  const rootFromOut = path.relative(outDir, root).split(path.sep).join("/") || ".";
  const files = renderCluster(t, { target: runtime, rootFromOut });
  const plan = await planWrites(files, outDir);
  if (!opts.dryRun) {
    if (!opts.out) await ensureStateRoot(loaded.dir);
    await applyWrites(plan);
  }
  return {
    runtime,
    outDir: path.relative(ctx.cwd, outDir) || ".",
    dryRun: Boolean(opts.dryRun),
    files: plan.map((p) => ({ path: p.path, action: p.action })),
  };
}

export function formatRender(r: RenderResult, s: Style): string {
  const mark: Record<WriteAction, string> = {
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

export function renderCommand(getCtx: () => Context): Command {
  return baseCommand("render", "write every rendered file; list created / changed / unchanged")
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
    .action(async (opts: RenderOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("render", await runRender(opts, ctx), formatRender);
    });
}
