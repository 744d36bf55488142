import type { Command } from "commander";
import type { App } from "../cli.js";
import { fail } from "../errors.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { clusterStatus, type StatusResult } from "../runtime/lifecycle.js";
import type { RuntimeChoice } from "../topology/index.js";
import { examples, formatNodes, runtimeOption } from "./common.js";

export function formatStatus(r: StatusResult, s: Style, width?: number): string {
  const up = r.nodes.filter((n) => n.state === "running").length;
  const head = r.running
    ? `${s.ok("●")} ${s.bold(r.name)} (${r.runtime}) ${s.path(r.url)}: every node running`
    : `${up === 0 ? s.err("●") : s.warn("●")} ${s.bold(r.name)} (${r.runtime}) ${s.path(r.url)}: ${up} of ${r.nodes.length} nodes running`;
  return `${head}\n${formatNodes(r.nodes, s, width)}`;
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description("every node: role, state (running, stopped, unhealthy), address; the balancer URL")
    .addOption(runtimeOption())
    .addHelpText("after", examples(["phpcluster status", "phpcluster status --json"]))
    .action(async (opts: { runtime?: RuntimeChoice }, command: Command) => {
      const ctx = app.context(command);
      const status = await clusterStatus(await openCluster(ctx, opts.runtime));
      if (!status.running) {
        // the table first, then the condition (exit 9): scripts can tell a degraded cluster apart
        ctx.reporter.detail(status, formatStatus);
        const down = status.nodes.filter((n) => n.state !== "running");
        const all = down.length === status.nodes.length;
        throw fail.degraded(
          all
            ? `cluster ${status.name} is stopped`
            : `cluster ${status.name} is degraded: ${down.map((n) => `${n.name} ${n.state}`).join(", ")}`,
          status,
          all ? "start it with `phpcluster start`" : "`phpcluster up` brings back what is down",
        );
      }
      ctx.reporter.result(ctx.command, status, formatStatus);
    });
}
