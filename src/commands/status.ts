import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { clusterStatus, type StatusResult } from "../runtime/lifecycle.js";
import type { RuntimeChoice } from "../topology/index.js";
import { examples, formatNodes, runtimeOption } from "./common.js";

export function formatStatus(r: StatusResult, s: Style): string {
  const up = r.nodes.filter((n) => n.state === "running").length;
  const head = r.running
    ? `${s.ok("●")} ${s.bold(r.name)} (${r.runtime}) ${s.path(r.url)}: every node running`
    : `${up === 0 ? s.err("●") : s.warn("●")} ${s.bold(r.name)} (${r.runtime}) ${s.path(r.url)}: ${up} of ${r.nodes.length} nodes running`;
  return `${head}\n${formatNodes(r.nodes, s)}`;
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description("every node: role, state (running, stopped, unhealthy), address; the balancer URL")
    .addOption(runtimeOption())
    .addHelpText("after", examples(["phpcluster status", "phpcluster status --json"]))
    .action(async (opts: { runtime?: RuntimeChoice }, command: Command) => {
      const ctx = app.context(command);
      ctx.reporter.result(
        ctx.command,
        await clusterStatus(await openCluster(ctx, opts.runtime)),
        formatStatus,
      );
    });
}
