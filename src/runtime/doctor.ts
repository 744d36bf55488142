import { readFile } from "node:fs/promises";
import { execa } from "execa";
import { probeDocker } from "./detect.js";
import type { Prerequisite } from "./driver.js";
import { checkNativeBinaries } from "./native/binaries.js";

export interface ComposeFlavour {
  command: string[];
  version: string;
}

export interface DoctorReport {
  docker: { answers: boolean; serverVersion?: string | undefined; error?: string | undefined };
  compose: ComposeFlavour | undefined;
  native: { usable: boolean; prerequisites: Prerequisite[] };
  usable: ("compose" | "native")[];
  /** What `auto` picks here. */
  auto: "compose" | "native" | undefined;
  /** Debian packages that would make the native runtime usable. */
  missingPackages: string[];
  os: { debianLike: boolean; root: boolean };
}

/** `docker compose` (v2+) first, then the older `docker-compose` (v1); bounded. */
export async function detectCompose(): Promise<ComposeFlavour | undefined> {
  const candidates: string[][] = [["docker", "compose"], ["docker-compose"]];
  for (const command of candidates) {
    const [bin, ...sub] = command as [string, ...string[]];
    const r = await execa(bin, [...sub, "version", "--short"], {
      reject: false,
      timeout: 10_000,
      stdin: "ignore",
    });
    if (r.exitCode === 0 && r.stdout.trim()) return { command, version: r.stdout.trim() };
  }
  return undefined;
}

async function debianLike(): Promise<boolean> {
  try {
    const text = await readFile("/etc/os-release", "utf8");
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(text);
  } catch {
    return false;
  }
}

export async function runDoctor(): Promise<DoctorReport> {
  const [docker, compose, native, debian] = await Promise.all([
    probeDocker(),
    detectCompose(),
    checkNativeBinaries(),
    debianLike(),
  ]);
  const nativeUsable = native.binaries !== undefined;
  const composeUsable = docker.answers && compose !== undefined;
  const usable = [
    ...(composeUsable ? (["compose"] as const) : []),
    ...(nativeUsable ? (["native"] as const) : []),
  ];
  return {
    docker,
    compose,
    native: { usable: nativeUsable, prerequisites: native.prerequisites },
    usable,
    auto: docker.answers ? "compose" : nativeUsable ? "native" : undefined,
    missingPackages: native.prerequisites.filter((p) => !p.ok && p.package).map((p) => p.package as string),
    os: { debianLike: debian, root: process.getuid?.() === 0 },
  };
}

/** apt-get install the native runtime's packages (root on Debian/Ubuntu only). */
export async function installPackages(packages: string[], onOutput: (line: string) => void): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const lock = ["-o", "DPkg::Lock::Timeout=600"];
  for (const args of [
    ["update", "-q", ...lock],
    ["install", "-y", "-q", "--no-install-recommends", ...lock, ...packages],
  ]) {
    const sub = execa("apt-get", args, {
      env,
      all: true,
      reject: false,
      stdin: "ignore",
      timeout: 15 * 60_000,
    });
    sub.all?.on("data", (d: Buffer) => {
      for (const line of d.toString("utf8").split("\n")) if (line.trim()) onOutput(line);
    });
    const r = await sub;
    if (r.exitCode !== 0) throw new Error(`apt-get ${args[0]} failed with exit code ${r.exitCode}`);
  }
}
