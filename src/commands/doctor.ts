import type { Command } from "commander";
import type { Context } from "../context.js";
import { RuntimeUnavailableError, UsageError } from "../errors.js";
import type { Style } from "../output/index.js";
import { type DoctorReport, installPackages, runDoctor } from "../runtime/doctor.js";
import { baseCommand, type CommonOptions, examples } from "./common.js";

export interface DoctorOptions extends CommonOptions {
  install?: boolean;
  yes?: boolean;
}

export interface DoctorResult extends DoctorReport {
  installed: string[];
}

export async function runDoctorCommand(opts: DoctorOptions, ctx: Context): Promise<DoctorResult> {
  let report = await runDoctor();
  let installed: string[] = [];
  if (opts.install && report.missingPackages.length > 0) {
    if (!report.os.debianLike || !report.os.root) {
      throw new UsageError(
        "--install works as root on Debian or Ubuntu only",
        `install ${report.missingPackages.join(" ")} with your package manager`,
      );
    }
    if (!opts.yes) {
      throw new UsageError(
        `would run: apt-get install ${report.missingPackages.join(" ")}`,
        "add --yes to install them",
      );
    }
    const packages = report.missingPackages;
    await ctx.reporter.step(`apt-get install ${packages.join(" ")}`, () =>
      installPackages(packages, (line) => {
        if (ctx.debug) ctx.reporter.info(line);
      }),
    );
    installed = packages;
    report = await runDoctor();
  }
  if (report.usable.length === 0) {
    throw new RuntimeUnavailableError(
      "no runtime is usable here: no Docker engine answers, and the native runtime misses " +
        report.native.prerequisites
          .filter((p) => !p.ok)
          .map((p) => p.name)
          .join(", "),
      `install ${report.missingPackages.join(" ")} (phpcluster doctor --install --yes, as root on Debian), or start a Docker engine`,
      report,
    );
  }
  return { ...report, installed };
}

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
  if (r.installed.length > 0) lines.push(`${s.ok("installed")} ${r.installed.join(" ")}`);
  if (r.missingPackages.length > 0) {
    lines.push(
      s.dim(
        `to use the native runtime: apt-get install ${r.missingPackages.join(" ")} (or phpcluster doctor --install --yes)`,
      ),
    );
  }
  lines.push(`usable here: ${r.usable.join(", ") || "none"}; runtime auto picks ${r.auto ?? "nothing"}`);
  return lines.join("\n");
}

export function doctorCommand(getCtx: () => Context): Command {
  return baseCommand(
    "doctor",
    "what runtimes are usable here (Docker engine and Compose flavour, native programs), and what to install",
  )
    .option("--install", "install the native runtime's Debian packages with apt (root on Debian/Ubuntu)")
    .option("--yes", "do not ask; with --install, install")
    .addHelpText("after", examples(["phpcluster doctor", "phpcluster doctor --install --yes"]))
    .action(async (opts: DoctorOptions) => {
      const ctx = getCtx();
      ctx.reporter.result("doctor", await runDoctorCommand(opts, ctx), formatDoctor);
    });
}
