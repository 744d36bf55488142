import type { Command } from "commander";
import type { Context } from "../context.js";
import type { Style } from "../output/index.js";
import { formatIssue, loadTopology, type Topology, type TopologyIssue } from "../topology/index.js";
import { baseCommand, type CommonOptions, examples } from "./common.js";

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

export async function runValidate(opts: CommonOptions, ctx: Context): Promise<ValidateResult> {
  const loaded = await loadTopology(opts.file);
  for (const w of loaded.warnings) ctx.reporter.warn(formatIssue(w));
  const t = loaded.topology;
  const host = t.balancer.bind.includes(":") ? `[${t.balancer.bind}]` : t.balancer.bind;
  return {
    file: opts.file,
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

export function validateCommand(getCtx: () => Context): Command {
  return baseCommand("validate", "load and check the topology; print every problem; exit non-zero on any")
    .addHelpText("after", examples(["phpcluster validate", "phpcluster validate -f staging.yml --json"]))
    .action(async (opts: CommonOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("validate", await runValidate(opts, ctx), formatValidate);
    });
}
