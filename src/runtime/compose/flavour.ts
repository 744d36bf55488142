/**
 * Which Docker Compose is installed: `docker compose` (v2 and later: the Go rewrite, as a Docker
 * CLI plugin) first, then the older standalone `docker-compose` (v1: the Python one, or a v2
 * binary installed under that name), with its generation. Doctor reports it; the compose driver
 * runs it.
 */
import { execa } from "execa";

export interface ComposeFlavour {
  /** The command before the subcommand: `["docker", "compose"]` or `["docker-compose"]`. */
  command: string[];
  /** What `version --short` printed ("1.29.2", "v2.27.0", "2.21.0"). */
  version: string;
}

export interface ComposeCli extends ComposeFlavour {
  /** v1: the Python docker-compose (1.x); v2: the Go rewrite (2.x and later, plugin or standalone). */
  generation: "v1" | "v2";
}

const CANDIDATES: readonly (readonly [string, ...string[]])[] = [["docker", "compose"], ["docker-compose"]];
const DETECT_TIMEOUT_MS = 10_000;

/** Major version of a `version --short` answer ("1.29.2", "v2.27.0", "5.5.0"). */
export function composeGeneration(version: string): "v1" | "v2" {
  const major = Number.parseInt(version.trim().replace(/^v/i, ""), 10);
  return Number.isFinite(major) && major < 2 ? "v1" : "v2";
}

export function toComposeCli(flavour: ComposeFlavour): ComposeCli {
  return { ...flavour, generation: composeGeneration(flavour.version) };
}

/**
 * `docker compose` (v2+) first, then `docker-compose` (v1); each asked for its version, bounded.
 * `env` is the whole environment of the probe (PATH decides which binaries are found).
 */
export async function detectCompose(env: NodeJS.ProcessEnv): Promise<ComposeFlavour | undefined> {
  for (const [bin, ...sub] of CANDIDATES) {
    const r = await execa(bin, [...sub, "version", "--short"], {
      reject: false,
      timeout: DETECT_TIMEOUT_MS,
      stdin: "ignore",
      // see exec.ts: execa's exit hook would re-raise SIGINT before the CLI could clean up
      cleanup: false,
      env: { ...env, NO_COLOR: "1" },
      extendEnv: false,
    });
    const version = r.exitCode === 0 ? r.stdout.trim() : "";
    if (version) return { command: [bin, ...sub], version };
  }
  return undefined;
}

/** The Compose to run, with its generation; undefined when neither is installed. */
export async function findCompose(env: NodeJS.ProcessEnv): Promise<ComposeCli | undefined> {
  const flavour = await detectCompose(env);
  return flavour ? toComposeCli(flavour) : undefined;
}
