import { readFile } from "node:fs/promises";
import { execa } from "execa";
import { fail } from "../errors.js";
import { DEFAULT_BASE_IMAGE, type Topology } from "../topology/index.js";
import { type ComposeFlavour, detectCompose } from "./compose/flavour.js";
import { decideAuto, probeDocker, probeImage } from "./detect.js";
import type { Prerequisite, StepReporter } from "./driver.js";
import type { Place } from "./index.js";
import { checkNativeBinaries, findProgram, type NativeCheck } from "./native/binaries.js";
import { phpInstallOf, planExtensions } from "./native/php-extensions.js";
import { loadFrom } from "./place.js";

export interface DoctorReport {
  docker: { answers: boolean; serverVersion?: string | undefined; error?: string | undefined };
  compose: ComposeFlavour | undefined;
  native: { usable: boolean; prerequisites: Prerequisite[] };
  /** The swarm runtime: is the engine a manager, how many hosts, can an overlay be encrypted here. */
  swarm: SwarmReport;
  usable: ("compose" | "native" | "swarm")[];
  /** What `auto` picks here, and why. */
  auto: "compose" | "native" | undefined;
  autoReason: string;
  /** Debian packages that would make the native runtime usable. */
  missingPackages: string[];
  os: { debianLike: boolean; root: boolean };
}

export interface SwarmReport {
  /** LocalNodeState of the engine: inactive, active, … (unreachable when it does not answer). */
  state: string;
  manager: boolean;
  nodes: number;
  /** The kernel has IPsec ESP (an encrypted overlay carries traffic between hosts); undefined: cannot tell. */
  ipsec: boolean | undefined;
  /** What the swarm runtime lacks here, and what the topology asks that cannot work. */
  problems: string[];
}

/** CONFIG_INET_ESP and CONFIG_CRYPTO_GCM from /proc/config.gz (the encrypted overlay's IPsec). */
async function kernelHasIpsec(): Promise<boolean | undefined> {
  try {
    const { gunzipSync } = await import("node:zlib");
    const config = gunzipSync(await readFile("/proc/config.gz")).toString("utf8");
    return /^CONFIG_INET_ESP=[ym]$/m.test(config) && /^CONFIG_CRYPTO_GCM=[ym]$/m.test(config);
  } catch {
    return undefined;
  }
}

async function swarmReport(
  env: NodeJS.ProcessEnv,
  answers: boolean,
  topology?: Topology,
): Promise<SwarmReport> {
  const { swarmInfo } = await import("./swarm/engine.js");
  const info = answers ? await swarmInfo(env) : { state: "unreachable", manager: false, nodes: 0 };
  const ipsec = await kernelHasIpsec();
  const problems: string[] = [];
  if (!answers) problems.push("no Docker engine answers");
  else if (info.state !== "active")
    problems.push(
      `the engine is not in a swarm (${info.state}): docker swarm init, or point DOCKER_HOST at a manager`,
    );
  else if (!info.manager)
    problems.push("the engine is a swarm worker: point DOCKER_HOST (or the Docker context) at a manager");
  if (topology && info.nodes > 1 && !topology.images.registry)
    problems.push(
      `the swarm has ${info.nodes} nodes: images.registry is required (every host pulls the images from it)`,
    );
  if (topology?.swarm.encrypted && ipsec === false)
    problems.push(
      "swarm.encrypted is true, but this kernel has no IPsec (CONFIG_INET_ESP, CONFIG_CRYPTO_GCM): an encrypted overlay carries nothing between hosts; set swarm.encrypted: false here, or use a kernel with IPsec",
    );
  return { state: info.state, manager: info.manager, nodes: info.nodes, ipsec, problems };
}

async function debianLike(): Promise<boolean> {
  try {
    const text = await readFile("/etc/os-release", "utf8");
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(text);
  } catch {
    return false;
  }
}

/**
 * What this topology needs of the native runtime beyond its programs: the PHP extensions of
 * app.extensions (installed here or not), and openssl for a development certificate.
 */
async function topologyPrerequisites(
  topology: Topology,
  native: NativeCheck,
  env: NodeJS.ProcessEnv,
): Promise<Prerequisite[]> {
  const out: Prerequisite[] = [];
  const install = native.binaries ? phpInstallOf(native.binaries.phpModule) : undefined;
  if (install) {
    const plan = await planExtensions(topology, install);
    const wanted = topology.app.extensions.map((e) => e.toLowerCase());
    for (const name of wanted) {
      const missing = plan.missing.find((m) => m.name === name);
      out.push({
        name: `PHP extension ${name} (app.extensions)`,
        ok: missing === undefined,
        detail: missing ? "not installed" : "installed",
        ...(missing?.package ? { package: missing.package } : {}),
      });
    }
  }
  const tls = topology.balancer.tls;
  if (tls && !(tls.certificate && tls.key)) {
    const openssl = await findProgram("openssl", env.PATH ?? "");
    out.push({
      name: "openssl (development certificate of balancer.tls)",
      ok: openssl !== undefined,
      detail: openssl ?? "not found",
      package: "openssl",
    });
  }
  return out;
}

export async function runDoctor(env: NodeJS.ProcessEnv, topology?: Topology): Promise<DoctorReport> {
  const [docker, compose, checked, debian] = await Promise.all([
    probeDocker(env),
    detectCompose(env),
    checkNativeBinaries(env),
    debianLike(),
  ]);
  const extra = topology ? await topologyPrerequisites(topology, checked, env) : [];
  const swarm = await swarmReport(env, docker.answers, topology);
  const native = { ...checked, prerequisites: [...checked.prerequisites, ...extra] };
  const nativeUsable = native.binaries !== undefined && extra.every((p) => p.ok);
  const base = topology?.images.base ?? DEFAULT_BASE_IMAGE;
  const decision = decideAuto(
    {
      engine: docker,
      native: nativeUsable,
      baseImage: docker.answers ? await probeImage(env, base) : undefined,
    },
    base,
  );
  const composeUsable = docker.answers && compose !== undefined;
  const usable = [
    ...(composeUsable ? (["compose"] as const) : []),
    ...(nativeUsable ? (["native"] as const) : []),
  ];
  return {
    docker,
    compose,
    native: { usable: nativeUsable, prerequisites: native.prerequisites },
    swarm,
    usable: [...usable, ...(swarm.state === "active" && swarm.manager ? (["swarm"] as const) : [])],
    auto: docker.answers || nativeUsable ? (decision.runtime as "compose" | "native") : undefined,
    autoReason: decision.reason,
    missingPackages: [
      ...new Set(native.prerequisites.filter((p) => !p.ok && p.package).map((p) => p.package as string)),
    ],
    os: { debianLike: debian, root: process.getuid?.() === 0 },
  };
}

/** apt-get install the native runtime's packages (root on Debian/Ubuntu only). */
export async function installPackages(
  packages: string[],
  onOutput: (line: string) => void,
  baseEnv: NodeJS.ProcessEnv,
): Promise<void> {
  const env = { ...baseEnv, DEBIAN_FRONTEND: "noninteractive" };
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
      extendEnv: false,
    });
    sub.all?.on("data", (d: Buffer) => {
      for (const line of d.toString("utf8").split("\n")) if (line.trim()) onOutput(line);
    });
    const r = await sub;
    if (r.exitCode !== 0) {
      throw fail.runtime("INSTALL_FAILED", `apt-get ${args[0]} failed with exit code ${r.exitCode}`, {
        hint: `run it by hand to see why: apt-get update && apt-get install ${packages.join(" ")}`,
      });
    }
  }
}

export interface DoctorResult extends DoctorReport {
  installed: string[];
}

/** `phpcluster doctor [--install --yes]`: what is usable here, installing the native runtime's packages when asked. */
/** The topology of -f when there is a valid one (doctor then also checks what it needs); else none. */
async function topologyIfAny(place: Pick<Place, "env" | "cwd" | "file">): Promise<Topology | undefined> {
  try {
    return (await loadFrom(place)).topology;
  } catch {
    return undefined;
  }
}

export async function doctor(
  place: Pick<Place, "env" | "cwd" | "file">,
  opts: { install: boolean; yes: boolean; reporter: StepReporter; onOutput: (line: string) => void },
): Promise<DoctorResult> {
  const topology = await topologyIfAny(place);
  let report = await runDoctor(place.env, topology);
  let installed: string[] = [];
  if (opts.install && report.missingPackages.length > 0) {
    if (!report.os.debianLike || !report.os.root) {
      throw fail.usage(
        "--install works as root on Debian or Ubuntu only",
        `install ${report.missingPackages.join(" ")} with your package manager`,
      );
    }
    if (!opts.yes) {
      throw fail.usage(
        `would run: apt-get install ${report.missingPackages.join(" ")}`,
        "add --yes to install them",
      );
    }
    const packages = report.missingPackages;
    await opts.reporter.step(`apt-get install ${packages.join(" ")}`, () =>
      installPackages(packages, opts.onOutput, place.env),
    );
    installed = packages;
    report = await runDoctor(place.env, topology);
  }
  if (report.usable.length === 0) {
    throw fail.runtimeUnavailable(
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
