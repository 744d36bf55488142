import type { Command } from "commander";
import type { Context } from "../context.js";
import type { Style } from "../output/index.js";
import type { NodeStatus } from "../runtime/driver.js";
import { openCluster } from "../runtime/index.js";
import { createCluster } from "../runtime/lifecycle.js";
import { formatIssue, type RuntimeChoice, type RuntimeName } from "../topology/index.js";
import {
  balancerUrl,
  baseCommand,
  type CommonOptions,
  durationOption,
  examples,
  formatNodes,
  runtimeOption,
} from "./common.js";

export interface CreateOptions extends CommonOptions {
  runtime?: RuntimeChoice;
  timeout: number;
}

export interface CreateResult {
  name: string;
  runtime: RuntimeName;
  url: string;
  nodes: NodeStatus[];
}

export async function runCreate(opts: CreateOptions, ctx: Context): Promise<CreateResult> {
  const { loaded, runtime, cluster, driver } = await openCluster(opts.file, ctx.cwd, opts.runtime);
  for (const w of loaded.warnings) ctx.reporter.warn(formatIssue(w));
  const nodes = await createCluster(cluster, driver, {
    timeoutMs: opts.timeout,
    signal: ctx.signal,
    reporter: ctx.reporter,
  });
  const t = loaded.topology;
  return { name: t.name, runtime, url: balancerUrl(t.balancer.bind, t.balancer.port), nodes };
}

export function formatCreate(r: CreateResult, s: Style): string {
  return [
    `${s.ok("✔")} cluster ${s.bold(r.name)} is up (${r.runtime}): ${s.path(r.url)}`,
    formatNodes(r.nodes, s),
    s.dim("next: phpcluster verify · phpcluster status · phpcluster destroy"),
  ].join("\n");
}

export function createCommand(getCtx: () => Context): Command {
  return baseCommand("create", "validate, render, bring the cluster up and wait until every node is healthy")
    .addOption(runtimeOption())
    .option("--timeout <duration>", "bound on bringing every node up", durationOption, 120_000)
    .addHelpText(
      "after",
      examples(["phpcluster create", "phpcluster create --runtime native --timeout 60s --json"]),
    )
    .action(async (opts: CreateOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("create", await runCreate(opts, ctx), formatCreate);
    });
}
