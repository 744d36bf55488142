import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import { loadFrom } from "../runtime/place.js";
import { formatIssue, type Topology, type TopologyIssue } from "../topology/index.js";
import { examples } from "./common.js";

export interface ValidateResult {
  file: string;
  valid: true;
  warnings: TopologyIssue[];
  summary: {
    name: string;
    runtime: Topology["runtime"];
    balancer: string;
    strategy: Topology["balancer"]["strategy"];
    appNodes: number;
    memcachedNodes: number;
    sessionReplicas: number;
  };
}

export function formatValidate(r: ValidateResult, s: Style): string {
  const m = r.summary;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return (
    `${s.ok("✔")} ${s.path(r.file)} is valid: cluster ${s.bold(m.name)}, ${plural(m.appNodes, "app node")}, ` +
    `${plural(m.memcachedNodes, "memcached node")}, balancer ${m.balancer} (${m.strategy})` +
    (r.warnings.length > 0 ? `, ${plural(r.warnings.length, "warning")}` : "")
  );
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description("load and check the topology; print every problem; exit non-zero on any")
    .addHelpText("after", examples(["phpcluster validate", "phpcluster validate -f staging.yml --json"]))
    .action(async (_opts: unknown, command: Command) => {
      const ctx = app.context(command);
      const loaded = await loadFrom(ctx, { directives: true });
      for (const w of loaded.warnings) ctx.reporter.warn(formatIssue(w));
      const t = loaded.topology;
      const host = t.balancer.bind.includes(":") ? `[${t.balancer.bind}]` : t.balancer.bind;
      const result: ValidateResult = {
        file: loaded.file,
        valid: true,
        warnings: loaded.warnings,
        summary: {
          name: t.name,
          runtime: t.runtime,
          balancer: `http://${host}:${t.balancer.port}`,
          strategy: t.balancer.strategy,
          appNodes: t.app.replicas,
          memcachedNodes: t.memcached.nodes,
          sessionReplicas: t.sessions.replicas,
        },
      };
      ctx.reporter.result(ctx.command, result, formatValidate);
    });
}
