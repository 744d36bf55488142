import { type Command, Option } from "commander";
import type { Context } from "../context.js";
import { RuntimeError, VerifyFailedError } from "../errors.js";
import type { Style } from "../output/index.js";
import { lockCluster, readSecret } from "../runtime/cluster.js";
import { openCluster } from "../runtime/index.js";
import { type FailoverMode, type FailoverReport, runFailover } from "../scenarios/failover.js";
import type { RuntimeChoice } from "../topology/index.js";
import { appNodeNames } from "../topology/index.js";
import { baseCommand, type CommonOptions, examples, runtimeOption } from "./common.js";

export interface FailoverOptions extends CommonOptions {
  runtime?: RuntimeChoice;
  node?: string;
  mode: FailoverMode;
  keepDown?: boolean;
}

export async function runFailoverCommand(opts: FailoverOptions, ctx: Context): Promise<FailoverReport> {
  const { loaded, cluster, driver } = await openCluster(opts.file, ctx.cwd, opts.runtime);
  const apps = appNodeNames(loaded.topology);
  if (opts.node && !apps.includes(opts.node)) {
    throw new RuntimeError("UNKNOWN_NODE", `${opts.node} is not an app node`, {
      hint: `the app nodes are ${apps.join(", ")}`,
    });
  }
  if (apps.length < 2) {
    throw new RuntimeError("NO_OTHER_NODE", "failover needs at least two app nodes (app.replicas ≥ 2)");
  }
  const secret = await readSecret(cluster.stateDir);
  if (!secret || !(await driver.exists(cluster))) {
    throw new RuntimeError("NOT_RUNNING", `cluster ${loaded.topology.name} is not running`, {
      hint: "start it with `phpcluster create`",
    });
  }
  const lock = await lockCluster(cluster.stateDir, "failover");
  let report: FailoverReport;
  try {
    report = await runFailover(
      { cluster, driver, secret, reporter: ctx.reporter, signal: ctx.signal },
      { node: opts.node, mode: opts.mode, keepDown: Boolean(opts.keepDown) },
    );
  } finally {
    await lock.release();
  }
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok);
    throw new VerifyFailedError(
      `failover not proven: ${failed.map((c) => `${c.name} (${c.detail})`).join("; ")}`,
      { report },
    );
  }
  return report;
}

export function formatFailover(r: FailoverReport, s: Style): string {
  return [
    `${s.ok("✔")} ${r.mode === "kill" ? "killed" : "stopped"} ${s.bold(r.node)}: the session moved to ${s.bold(r.after?.node ?? "?")} in ${r.timeToFirstGoodMs} ms`,
    `  session ${r.sessionId}, nonce ${r.nonce} intact, counter ${r.before.counter} → ${r.after?.counter}`,
    `  stored in memcached on ${r.before.storedOn.join(", ")}; rewritten after the failover: ${r.storeChanged ? "yes" : "no"}`,
    r.restored
      ? `  ${r.node} restored and healthy`
      : `  ${r.node} left down (--keep-down); bring it back with ${s.bold(`phpcluster restart ${r.node}`)}`,
  ].join("\n");
}

export function failoverCommand(getCtx: () => Context): Command {
  return baseCommand(
    "failover",
    "open a session through the balancer, kill the node that serves it (or --node), and show that another node serves the same session with its data",
  )
    .option("--node <node>", "the app node to take down (default: the one serving the session)")
    .addOption(
      new Option("--mode <mode>", "kill: SIGKILL the whole process group / container; stop: graceful stop")
        .choices(["kill", "stop"])
        .default("kill"),
    )
    .option("--keep-down", "leave the node down afterwards")
    .addOption(runtimeOption())
    .addHelpText(
      "after",
      examples([
        "phpcluster failover",
        "phpcluster failover --node app2 --mode stop",
        "phpcluster failover --json --keep-down",
      ]),
    )
    .action(async (opts: FailoverOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("failover", await runFailoverCommand(opts, ctx), formatFailover);
    });
}
