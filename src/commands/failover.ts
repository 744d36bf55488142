import { type Command, Option } from "commander";
import type { App } from "../cli.js";
import { fail } from "../errors.js";
import type { Style } from "../output/index.js";
import { openCluster } from "../runtime/index.js";
import { type FailoverMode, type FailoverReport, failoverCluster } from "../scenarios/failover.js";
import type { RuntimeChoice } from "../topology/index.js";
import { examples, runtimeOption } from "./common.js";

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

interface FailoverFlags {
  runtime?: RuntimeChoice;
  node?: string;
  mode: FailoverMode;
  keepDown?: boolean;
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description(
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
    .action(async (opts: FailoverFlags, command: Command) => {
      const ctx = app.context(command);
      const report = await failoverCluster(
        await openCluster(ctx, opts.runtime),
        { node: opts.node, mode: opts.mode, keepDown: Boolean(opts.keepDown) },
        { reporter: ctx.reporter, signal: ctx.signal },
      );
      if (!report.ok) {
        const failed = report.checks.filter((c) => !c.ok);
        throw fail.verifyFailed(
          `failover not proven: ${failed.map((c) => `${c.name} (${c.detail})`).join("; ")}`,
          {
            report,
          },
        );
      }
      ctx.reporter.result(ctx.command, report, formatFailover);
    });
}
