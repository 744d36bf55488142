import type { Command } from "commander";
import type { App } from "../cli.js";
import type { Style } from "../output/index.js";
import { type DoctorResult, doctor } from "../runtime/doctor.js";
import { examples } from "./common.js";

export function formatDoctor(r: DoctorResult, s: Style): string {
  const mark = (ok: boolean) => (ok ? s.ok("✔") : s.err("✖"));
  const lines = [
    s.bold("compose runtime"),
    `  ${mark(r.docker.answers)} Docker engine${r.docker.answers ? ` ${r.docker.serverVersion}` : `: ${r.docker.error || "does not answer"}`}`,
    `  ${mark(r.compose !== undefined)} Compose${r.compose ? `: ${r.compose.command.join(" ")} ${r.compose.version}` : ": neither `docker compose` nor `docker-compose` found"}`,
    s.bold("native runtime"),
    ...r.native.prerequisites.map(
      (p) => `  ${mark(p.ok)} ${p.name}: ${p.detail}${p.ok ? "" : s.dim(` (Debian package ${p.package})`)}`,
    ),
  ];
  lines.push(s.bold("swarm runtime"));
  const w = r.swarm;
  lines.push(
    `  ${mark(w.state === "active" && w.manager)} Swarm: ${w.state === "active" ? `${w.manager ? "a manager" : "a worker"} of a swarm of ${w.nodes} node${w.nodes === 1 ? "" : "s"}` : w.state}`,
  );
  lines.push(
    `  ${w.ipsec === false ? s.warn("!") : mark(w.ipsec === true)} encrypted overlay: ${w.ipsec === true ? "the kernel has IPsec" : w.ipsec === false ? "this kernel has no IPsec (swarm.encrypted: false needed here)" : "cannot tell (no /proc/config.gz)"}`,
  );
  for (const p of w.problems) lines.push(`  ${s.warn("!")} ${p}`);
  if (r.installed.length > 0) lines.push(`${s.ok("installed")} ${r.installed.join(" ")}`);
  if (r.missingPackages.length > 0) {
    lines.push(
      s.dim(
        `to use the native runtime: apt-get install ${r.missingPackages.join(" ")} (or phpcluster doctor --install --yes)`,
      ),
    );
  }
  lines.push(
    `usable here: ${r.usable.join(", ") || "none"}; runtime auto picks ${r.auto ?? "nothing"}${r.auto ? `: ${r.autoReason}` : ""}`,
  );
  return lines.join("\n");
}

export function configure(cmd: Command, app: App): void {
  cmd
    .description(
      "what runtimes are usable here (Docker engine and Compose flavour, native programs), and what to install",
    )
    .option("--install", "install the native runtime's Debian packages with apt (root on Debian/Ubuntu)")
    .option("--yes", "do not ask; with --install, install")
    .addHelpText("after", examples(["phpcluster doctor", "phpcluster doctor --install --yes"]))
    .action(async (opts: { install?: boolean; yes?: boolean }, command: Command) => {
      const ctx = app.context(command);
      const result = await doctor(ctx, {
        install: Boolean(opts.install),
        yes: Boolean(opts.yes),
        reporter: ctx.reporter,
        onOutput: (line) => {
          if (ctx.debug) ctx.reporter.info(line);
        },
      });
      ctx.reporter.result(ctx.command, result, formatDoctor);
    });
}
