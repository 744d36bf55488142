import type { Command } from "commander";
import type { Context } from "../context.js";
import type { Style } from "../output/index.js";
import type { NodeStatus } from "../runtime/driver.js";
import { openCluster } from "../runtime/index.js";
import type { RuntimeChoice, RuntimeName } from "../topology/index.js";
import {
  balancerUrl,
  baseCommand,
  type CommonOptions,
  examples,
  formatNodes,
  runtimeOption,
} from "./common.js";

export interface StatusOptions extends CommonOptions {
  runtime?: RuntimeChoice;
}

export interface StatusResult {
  name: string;
  runtime: RuntimeName;
  url: string;
  running: boolean;
  nodes: NodeStatus[];
}

export async function runStatus(opts: StatusOptions, ctx: Context): Promise<StatusResult> {
  const { loaded, runtime, cluster, driver } = await openCluster(opts.file, ctx.cwd, opts.runtime);
  const nodes = await driver.status(cluster);
  const t = loaded.topology;
  return {
    name: t.name,
    runtime,
    url: balancerUrl(t.balancer.bind, t.balancer.port),
    running: nodes.every((n) => n.state === "running"),
    nodes,
  };
}

export function formatStatus(r: StatusResult, s: Style): string {
  const up = r.nodes.filter((n) => n.state === "running").length;
  const head = r.running
    ? `${s.ok("●")} ${s.bold(r.name)} (${r.runtime}) ${s.path(r.url)}: every node running`
    : `${up === 0 ? s.err("●") : s.warn("●")} ${s.bold(r.name)} (${r.runtime}) ${s.path(r.url)}: ${up} of ${r.nodes.length} nodes running`;
  return `${head}\n${formatNodes(r.nodes, s)}`;
}

export function statusCommand(getCtx: () => Context): Command {
  return baseCommand(
    "status",
    "every node: role, state (running, stopped, unhealthy), address; the balancer URL",
  )
    .addOption(runtimeOption())
    .addHelpText("after", examples(["phpcluster status", "phpcluster status --json"]))
    .action(async (opts: StatusOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("status", await runStatus(opts, ctx), formatStatus);
    });
}
