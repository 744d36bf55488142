import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { Liquid } from "liquidjs";
import type { Context } from "../context.js";
import { EXIT, PhpclusterError, UsageError } from "../errors.js";
import { applyWrites, planWrites } from "../files/write-plan.js";
import type { Style } from "../output/index.js";
import { CLUSTER_NAME_RE } from "../topology/index.js";
import { baseCommand, type CommonOptions, examples } from "./common.js";

const TEMPLATES = fileURLToPath(new URL("../../templates/init/", import.meta.url));
export const SCHEMA_FILE = fileURLToPath(new URL("../../schema/phpcluster.schema.json", import.meta.url));

export interface InitOptions extends CommonOptions {
  name?: string;
  force?: boolean;
}

export interface InitResult {
  name: string;
  files: { path: string; action: "created" | "changed" | "unchanged" }[];
}

/** A valid cluster name from a directory name: `My Shop_2` -> `my-shop-2`. */
export function nameFromDirectory(dir: string): string {
  const slug = path
    .basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "")
    .slice(0, 31)
    .replace(/-+$/, "");
  return CLUSTER_NAME_RE.test(slug) ? slug : "phpcluster";
}

export async function runInit(opts: InitOptions, ctx: Context): Promise<InitResult> {
  const file = path.resolve(ctx.cwd, opts.file);
  const dir = path.dirname(file);
  const name = opts.name ?? nameFromDirectory(dir);
  if (!CLUSTER_NAME_RE.test(name)) {
    throw new UsageError(`--name "${name}" must match [a-z][a-z0-9-]{0,30}`);
  }
  const schema = path.relative(dir, SCHEMA_FILE).split(path.sep).join("/");
  const liquid = new Liquid({ strictVariables: true, strictFilters: true });
  const yaml = liquid.parseAndRenderSync(
    readFileSync(path.join(TEMPLATES, "phpcluster.yml.liquid"), "utf8"),
    {
      name,
      schema,
    },
  );
  const files = [
    { path: path.basename(file), content: yaml },
    { path: "public/index.php", content: readFileSync(path.join(TEMPLATES, "index.php"), "utf8") },
  ];
  const plan = await planWrites(files, dir);
  const existing = plan.filter((p) => p.action !== "created");
  if (existing.length > 0 && !opts.force) {
    throw new PhpclusterError(
      "INIT_EXISTS",
      `${existing.map((p) => path.relative(ctx.cwd, p.absolute)).join(" and ")} already exist${existing.length === 1 ? "s" : ""}`,
      { exitCode: EXIT.CONFLICT, hint: "nothing was written; use --force to overwrite" },
    );
  }
  await applyWrites(plan);
  return {
    name,
    files: plan.map((p) => ({ path: path.relative(ctx.cwd, p.absolute) || p.path, action: p.action })),
  };
}

export function formatInit(r: InitResult, s: Style): string {
  return [
    ...r.files.map((f) => `  ${f.action === "created" ? s.ok("created") : s.warn(f.action)} ${f.path}`),
    `${s.ok("✔")} cluster ${s.bold(r.name)} initialised; next: ${s.bold("phpcluster validate")}, then ${s.bold("phpcluster create")}`,
  ].join("\n");
}

export function initCommand(getCtx: () => Context): Command {
  return baseCommand(
    "init",
    "write a commented phpcluster.yml and a sample public/index.php (session counter)",
  )
    .option("--name <name>", "cluster name (default: from the directory name)")
    .option("--force", "overwrite existing files")
    .addHelpText(
      "after",
      examples(["phpcluster init", "phpcluster init --name shop -f deploy/phpcluster.yml"]),
    )
    .action(async (opts: InitOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("init", await runInit(opts, ctx), formatInit);
    });
}
