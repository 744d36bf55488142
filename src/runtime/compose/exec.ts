/**
 * Running `docker …` and `docker compose …` (or `docker-compose …`): always an argument array,
 * never a shell; always bounded by a timeout; cut short by the command's cancel signal; and always
 * with the command's own environment (`cluster.env`, not this process's: `extendEnv: false`).
 * A run never rejects: callers read `exitCode` and word the error themselves.
 */
import { execa, type Options } from "execa";
import { PROBE_SECRET_ENV } from "../../render/index.js";
import { lastLines } from "../kit/index.js";
import type { ComposeCli } from "./flavour.js";

/** A `docker` command that only reads or changes one container. */
export const DOCKER_TIMEOUT_MS = 30_000;
/** A Compose command (up, stop, kill, down): Compose itself waits for the engine. */
export const COMPOSE_TIMEOUT_MS = 120_000;
/** After a time-out or a cancel, SIGTERM, then SIGKILL this much later. */
const FORCE_KILL_AFTER_MS = 5000;

export interface RunOptions {
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  cwd?: string | undefined;
  /** stdout and stderr appended to this file instead of being kept (a build's long output). */
  logFile?: string | undefined;
  /** What the command reads on stdin (else none). */
  input?: string | undefined;
}

/** What a run left: its exit code and its output (stdout byte for byte, and as text). */
export interface Ran {
  /** undefined when it did not run to its end: not found, timed out, cancelled, killed. */
  exitCode: number | undefined;
  /** stdout as the command wrote it. */
  raw: Buffer;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they were written. */
  all: string;
  timedOut: boolean;
  cancelled: boolean;
  /** execa's one-line account of a failure ("Command timed out after 30000 milliseconds: …"). */
  shortMessage: string;
}

/** The environment of a docker command: the command's own, without colours. */
export function dockerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, NO_COLOR: "1" };
}

/**
 * The environment of a Compose command. The compose file requires the probe secret for every
 * command (Compose interpolates the whole file even to stop one service), and builds use the
 * classic builder: no buildx needed (v1 builds through the Docker API, v2 through the CLI).
 */
export function composeEnv(env: NodeJS.ProcessEnv, secret: string): NodeJS.ProcessEnv {
  return {
    ...env,
    [PROBE_SECRET_ENV]: secret,
    COMPOSE_DOCKER_CLI_BUILD: "0",
    DOCKER_BUILDKIT: "0",
    NO_COLOR: "1",
  };
}

const toBuffer = (value: unknown): Buffer =>
  value instanceof Uint8Array
    ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    : Buffer.alloc(0);

/**
 * `cleanup: false` on every subprocess of this runtime: execa's exit hook (signal-exit) re-raises
 * SIGINT/SIGTERM when it sees no other listener, which kills the CLI before it can stop what it
 * started (an interrupted `up` must still run `down`). The subprocesses are stopped through the
 * cancel signal instead, and by their time-out.
 */
async function run(file: string, args: string[], env: NodeJS.ProcessEnv, opts: RunOptions): Promise<Ran> {
  const options: Options = {
    reject: false,
    ...(opts.input === undefined ? { stdin: "ignore" as const } : { input: opts.input }),
    cleanup: false,
    env,
    extendEnv: false,
    encoding: "buffer",
    stripFinalNewline: false,
    all: opts.logFile === undefined,
    timeout: opts.timeoutMs ?? DOCKER_TIMEOUT_MS,
    forceKillAfterDelay: FORCE_KILL_AFTER_MS,
    ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.logFile
      ? { stdout: { file: opts.logFile, append: true }, stderr: { file: opts.logFile, append: true } }
      : {}),
  };
  const r = await execa(file, args, options);
  const raw = toBuffer(r.stdout);
  return {
    exitCode: r.exitCode,
    raw,
    stdout: raw.toString("utf8"),
    stderr: toBuffer(r.stderr).toString("utf8"),
    all: toBuffer(r.all).toString("utf8"),
    timedOut: r.timedOut,
    cancelled: r.isCanceled,
    shortMessage: r.shortMessage ?? "",
  };
}

/** `docker <args>` with the command's environment. */
export function docker(env: NodeJS.ProcessEnv, args: string[], opts: RunOptions = {}): Promise<Ran> {
  return run("docker", args, dockerEnv(env), opts);
}

/** The full command: `[...cmd, "-p", project, "-f", file, ...args]`, split into file and arguments. */
export function composeArgv(
  cli: Pick<ComposeCli, "command">,
  project: string,
  composeFile: string,
  args: string[],
): { file: string; args: string[] } {
  const [file, ...sub] = cli.command;
  if (file === undefined) throw new Error("empty compose command");
  return { file, args: [...sub, "-p", project, "-f", composeFile, ...args] };
}

/** Compose subcommands (after `-p project -f file`). */
export const composeArgs = {
  /** v1 builds one service after the other unless told; v2 builds in parallel by itself. */
  build: (cli: Pick<ComposeCli, "generation">, services: string[]) => [
    "build",
    ...(cli.generation === "v1" ? ["--parallel"] : []),
    ...services,
  ],
  /** Create or start one service alone; a stopped container with an unchanged config is just started. */
  upService: (service: string) => ["up", "-d", "--no-deps", "--no-build", service],
  down: (graceSeconds = 5) => ["down", "-v", "--remove-orphans", "-t", String(graceSeconds)],
  /** Each service's config hash, as `up` compares it with a container's label to decide on recreating. */
  configHashes: () => ["config", "--hash", "*"],
} as const;

/**
 * The plain Docker commands for one existing container of the project, by id. Compose's own
 * `stop`, `kill` and `up` of one service cost a Compose start-up each (0.4–2 s with v1), where
 * these take the engine's time only; they do the same to that container: `docker stop` sends the
 * container's own stop signal (Apache's SIGWINCH, from the compose file) and waits its grace.
 */
export const containerArgs = {
  start: (id: string) => ["start", id],
  stop: (id: string, graceSeconds: number) => ["stop", "-t", String(graceSeconds), id],
  kill: (id: string) => ["kill", "-s", "SIGKILL", id],
} as const;

/** One Compose project as the driver runs it. */
export interface ComposeProject {
  cli: ComposeCli;
  /** `-p`: the cluster's name. */
  project: string;
  /** `-f`: the rendered docker-compose.yml (absolute). */
  file: string;
  /** The render directory: relative paths in the file are resolved from here. */
  cwd: string;
  /** The command's environment. */
  env: NodeJS.ProcessEnv;
  /** The probe secret (or a placeholder, for commands that create nothing). */
  secret: string;
}

/** `<compose> -p <project> -f <file> <args>` in the render directory. */
export function compose(p: ComposeProject, args: string[], opts: RunOptions = {}): Promise<Ran> {
  const argv = composeArgv(p.cli, p.project, p.file, args);
  return run(argv.file, argv.args, composeEnv(p.env, p.secret), {
    ...opts,
    timeoutMs: opts.timeoutMs ?? COMPOSE_TIMEOUT_MS,
    cwd: opts.cwd ?? p.cwd,
  });
}

/** What a failed run said, for an error: the last lines of its output, else execa's account. */
export function failureText(r: Ran, lines: number): string[] {
  const out = lastLines(r.all || `${r.stderr}\n${r.stdout}`, lines);
  return out.length > 0 ? out : r.shortMessage ? [r.shortMessage] : [];
}
