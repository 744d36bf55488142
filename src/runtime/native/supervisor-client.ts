/**
 * Client side of the per-cluster supervisor (see `supervisor.ts`), used by short-lived CLI
 * invocations: launch or find the supervisor of a state directory, talk to it over its Unix socket,
 * and, when it is gone, read and clean up what it left behind from processes.json and /proc.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EXIT, PhpclusterError } from "../../errors.js";
import { groupMembers, isAlive, isOurProcess } from "./procfs.js";
import {
  DEFAULT_STOP_TIMEOUT_MS,
  isSignalName,
  ourGroupMembers,
  type ProcessRecord,
  type ProcessStatus,
  type ResponseMap,
  readJsonFile,
  type ShutdownResponse,
  type SignalResponse,
  type StartRequest,
  type StartResponse,
  type StatusResponse,
  type StopResponse,
  type SupervisorInfo,
  type SupervisorOp,
  type SupervisorRequest,
  type SupervisorResponse,
  signalGroup,
  sleep,
  supervisorPaths,
  waitUntil,
} from "./supervisor.js";

export type {
  ProcessRecord,
  ProcessStatus,
  ShutdownResponse,
  SignalResponse,
  StartRequest,
  StartResponse,
  StatusResponse,
  StopResponse,
  SupervisorInfo,
} from "./supervisor.js";

const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
const DEFAULT_LAUNCH_TIMEOUT_MS = 10_000;
/** Slack on top of a stop's grace period: the SIGKILL wait plus the round trip. */
const STOP_SLACK_MS = 10_000;

/** A supervisor operation failed, timed out or could not reach the supervisor. */
export class SupervisorError extends PhpclusterError {
  readonly op: string;
  readonly stateDir: string;

  constructor(
    op: string,
    stateDir: string,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super("SUPERVISOR", `supervisor ${op} (${stateDir}): ${message}`, {
      exitCode: EXIT.RUNTIME_FAILED,
      hint: options.hint,
      cause: options.cause,
      details: { op, stateDir },
    });
    this.op = op;
    this.stateDir = stateDir;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The compiled `supervisor-main.js`: beside this file when running from `dist/`, else (sources run
 * by vitest or tsx from `src/`) in `dist/` of the same checkout.
 */
export function resolveSupervisorEntry(): string {
  const candidates = [
    fileURLToPath(new URL("./supervisor-main.js", import.meta.url)),
    fileURLToPath(new URL("../../../dist/runtime/native/supervisor-main.js", import.meta.url)),
  ];
  const found = candidates.find((file) => fs.existsSync(file));
  if (!found) {
    throw new SupervisorError(
      "launch",
      "-",
      `supervisor-main.js not found (looked at ${candidates.join(", ")})`,
      {
        hint: "run `npm run build` first",
      },
    );
  }
  return found;
}

/** supervisor.json of a state directory (whether or not that supervisor still runs). */
export function readSupervisorInfo(stateDir: string): SupervisorInfo | undefined {
  const info = readJsonFile<SupervisorInfo>(supervisorPaths(path.resolve(stateDir)).info);
  return info && typeof info.pid === "number" && typeof info.socketPath === "string" ? info : undefined;
}

/** The last lines of `<stateDir>/supervisor.log` (for error messages). */
export function supervisorLogTail(stateDir: string, lines = 10): string {
  try {
    const text = fs.readFileSync(supervisorPaths(path.resolve(stateDir)).log, "utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** One request over a fresh connection: write one JSON line, read one JSON line. Bounded. */
function rawRequest(
  socketPath: string,
  req: SupervisorRequest,
  timeoutMs: number,
): Promise<SupervisorResponse> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let buffer = "";
    const sock = net.createConnection(socketPath);
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    const timer = setTimeout(
      () => settle(() => reject(new Error(`no answer within ${timeoutMs} ms`))),
      Math.max(1, timeoutMs),
    );
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on("data", (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf("\n");
      if (nl < 0) return;
      const line = buffer.slice(0, nl);
      settle(() => {
        try {
          resolve(JSON.parse(line) as SupervisorResponse);
        } catch {
          reject(new Error(`invalid response: ${line.slice(0, 200)}`));
        }
      });
    });
    sock.on("error", (err) => settle(() => reject(err)));
    sock.on("close", () => settle(() => reject(new Error("connection closed without an answer"))));
  });
}

export interface RequestOptions {
  /** Bound on the whole round trip. */
  requestTimeoutMs?: number;
}

/** A handle on a running supervisor. Every method is bounded and rejects with a SupervisorError. */
export class SupervisorClient {
  readonly stateDir: string;
  readonly info: SupervisorInfo;
  private readonly defaultTimeoutMs: number;

  constructor(stateDir: string, info: SupervisorInfo, defaultTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.stateDir = path.resolve(stateDir);
    this.info = info;
    this.defaultTimeoutMs = defaultTimeoutMs;
  }

  get pid(): number {
    return this.info.pid;
  }

  /** Is the supervisor process still alive (not a zombie, and not a reused pid)? */
  isAlive(): boolean {
    return isOurProcess(this.info.pid, { startTime: this.info.startTime });
  }

  /** Send one request; `{ ok: false }` answers become a SupervisorError carrying the supervisor's message. */
  async request<O extends SupervisorOp>(
    req: Extract<SupervisorRequest, { op: O }>,
    timeoutMs = this.defaultTimeoutMs,
  ): Promise<ResponseMap[O]> {
    let res: SupervisorResponse;
    try {
      res = await rawRequest(this.info.socketPath, req, timeoutMs);
    } catch (err) {
      const alive = this.isAlive();
      throw new SupervisorError(
        req.op,
        this.stateDir,
        `${errorMessage(err)} (socket ${this.info.socketPath}; supervisor pid ${this.info.pid} ${alive ? "alive" : "not running"})`,
        { cause: err },
      );
    }
    if (!res.ok) throw new SupervisorError(req.op, this.stateDir, res.error);
    return res as ResponseMap[O];
  }

  /** Spawn a service in its own process group. Rejects (e.g. command not found) with the reason. */
  start(spec: Omit<StartRequest, "op">, opts: RequestOptions = {}): Promise<StartResponse> {
    return this.request<"start">({ op: "start", ...spec }, opts.requestTimeoutMs);
  }

  /** Signal the whole group, wait for it to be gone, SIGKILL it after `timeoutMs`. */
  stop(
    name: string,
    opts: { signal?: NodeJS.Signals; timeoutMs?: number } & RequestOptions = {},
  ): Promise<StopResponse> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    const req: Extract<SupervisorRequest, { op: "stop" }> = { op: "stop", name, timeoutMs };
    if (opts.signal) req.signal = opts.signal;
    return this.request<"stop">(req, opts.requestTimeoutMs ?? timeoutMs + STOP_SLACK_MS);
  }

  /** Send a signal to the leader only (SIGHUP: nginx reload; SIGUSR1: Apache graceful restart). */
  signal(name: string, signal: NodeJS.Signals, opts: RequestOptions = {}): Promise<SignalResponse> {
    return this.request<"signal">({ op: "signal", name, signal }, opts.requestTimeoutMs);
  }

  status(opts: RequestOptions = {}): Promise<StatusResponse> {
    return this.request<"status">({ op: "status" }, opts.requestTimeoutMs);
  }

  /**
   * Stop everything (`order` first, one by one; the rest in parallel), after which the supervisor
   * exits. Resolves once the supervisor process is gone (bounded by `waitExitMs`).
   */
  async shutdown(
    opts: { order?: string[]; timeoutMs?: number; waitExitMs?: number } & RequestOptions = {},
  ): Promise<ShutdownResponse> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    const req: Extract<SupervisorRequest, { op: "shutdown" }> = { op: "shutdown", timeoutMs };
    if (opts.order) req.order = opts.order;
    // Ordered stops run one after another, the others in parallel.
    const sequential = new Set(opts.order ?? []).size + 1;
    const bound = opts.requestTimeoutMs ?? sequential * (timeoutMs + STOP_SLACK_MS) + 5_000;
    const res = await this.request<"shutdown">(req, bound);
    const waitExitMs = opts.waitExitMs ?? 5_000;
    if (!(await waitUntil(() => !this.isAlive(), waitExitMs, 20))) {
      throw new SupervisorError(
        "shutdown",
        this.stateDir,
        `pid ${this.pid} still alive ${waitExitMs} ms after answering`,
      );
    }
    return res;
  }
}

/**
 * A client for the supervisor of `stateDir`, or undefined if none runs (no supervisor.json, or one
 * whose pid is dead, a zombie or reused). A supervisor that is alive but does not answer is an error.
 */
export async function connectSupervisor(
  stateDir: string,
  opts: { timeoutMs?: number; requestTimeoutMs?: number } = {},
): Promise<SupervisorClient | undefined> {
  const dir = path.resolve(stateDir);
  const info = readSupervisorInfo(dir);
  if (!info) return undefined;
  const client = new SupervisorClient(dir, info, opts.requestTimeoutMs);
  if (!client.isAlive()) return undefined;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const deadline = Date.now() + timeoutMs;
  let status: StatusResponse | undefined;
  // Refused or missing socket: it may be re-listening (it recreates a removed socket); retry briefly.
  while (status === undefined) {
    try {
      status = await client.status({ requestTimeoutMs: Math.max(100, deadline - Date.now()) });
    } catch (err) {
      if (!client.isAlive()) return undefined;
      if (Date.now() >= deadline) {
        throw new SupervisorError("connect", dir, `supervisor pid ${info.pid} is alive but does not answer`, {
          cause: err,
          hint: `see ${supervisorPaths(dir).log}`,
        });
      }
      await sleep(100);
    }
  }
  if (status.shuttingDown) {
    // About to exit: wait for it, then report "none" so a new one can be launched.
    await waitUntil(() => !client.isAlive(), timeoutMs + DEFAULT_STOP_TIMEOUT_MS + STOP_SLACK_MS, 50);
    if (client.isAlive())
      throw new SupervisorError("connect", dir, `supervisor pid ${info.pid} is stuck shutting down`);
    return undefined;
  }
  return client;
}

export interface LaunchOptions {
  /** Bound on the whole launch (spawn until the socket answers). Default 10 s. */
  timeoutMs?: number;
  /** supervisor-main.js to run (default: {@link resolveSupervisorEntry}). */
  entry?: string;
  /** Environment of the supervisor process itself (services get their env per start request). */
  env?: NodeJS.ProcessEnv;
  /** Default bound on each later request of the returned client. */
  requestTimeoutMs?: number;
}

/**
 * Return a client for the supervisor of `stateDir`, starting one (detached, in its own session,
 * output to `<stateDir>/supervisor.log`) if none runs.
 */
export async function launchSupervisor(
  stateDir: string,
  opts: LaunchOptions = {},
): Promise<SupervisorClient> {
  const dir = path.resolve(stateDir);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LAUNCH_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const existing = await connectSupervisor(dir, {
    timeoutMs: Math.min(timeoutMs, 5_000),
    requestTimeoutMs: opts.requestTimeoutMs,
  });
  if (existing) return existing;

  const entry = opts.entry ?? resolveSupervisorEntry();
  const paths = supervisorPaths(dir);
  fs.mkdirSync(dir, { recursive: true });
  const logFd = fs.openSync(paths.log, "a", 0o644);
  let spawnError: Error | undefined;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let childPid: number | undefined;
  try {
    const child = spawn(process.execPath, [entry, dir], {
      cwd: dir,
      detached: true,
      stdio: ["ignore", logFd, logFd],
      env: opts.env ?? process.env,
    });
    child.once("error", (err) => {
      spawnError = err;
    });
    child.once("exit", (code, signal) => {
      exit = { code, signal };
    });
    child.unref();
    childPid = child.pid;
  } finally {
    fs.closeSync(logFd);
  }

  const failure = (message: string, cause?: unknown) => {
    const tail = supervisorLogTail(dir);
    return new SupervisorError("launch", dir, tail ? `${message}\n${tail}` : message, {
      cause,
      hint: `see ${paths.log}`,
    });
  };
  for (;;) {
    const remaining = deadline - Date.now();
    try {
      const client = await connectSupervisor(dir, {
        timeoutMs: Math.max(200, Math.min(remaining, 2_000)),
        requestTimeoutMs: opts.requestTimeoutMs,
      });
      if (client) {
        if (childPid !== undefined && client.pid !== childPid)
          await reapLoser(childPid, () => exit !== undefined);
        return client;
      }
    } catch (err) {
      if (Date.now() >= deadline) throw failure(errorMessage(err), err);
    }
    if (spawnError)
      throw failure(`cannot spawn ${process.execPath} ${entry}: ${spawnError.message}`, spawnError);
    // Exit code 3: another supervisor won a race for this state directory; keep polling for it.
    if (exit && exit.code !== 3) {
      throw failure(`supervisor exited during start-up (${exit.signal ?? `code ${exit.code}`})`);
    }
    if (Date.now() >= deadline) {
      // A supervisor that never answered manages nothing yet: do not leave it behind.
      if (childPid !== undefined && exit === undefined && isAlive(childPid)) {
        try {
          process.kill(childPid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
      throw failure(`supervisor did not answer within ${timeoutMs} ms`);
    }
    await sleep(25);
  }
}

/**
 * Our child lost a launch race to another supervisor: it exits on its own (code 3). Wait for that
 * (bounded), so this process reaps it and nothing stray outlives the launch; else terminate it.
 */
async function reapLoser(pid: number, exited: () => boolean): Promise<void> {
  if (await waitUntil(() => exited() || !isAlive(pid), 5_000, 20)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // gone meanwhile
  }
}

/**
 * processes.json re-checked against /proc, usable whether or not the supervisor runs. A recorded pid
 * whose /proc start time no longer matches (a reused pid) counts as not alive.
 */
export function readProcesses(stateDir: string): Record<string, ProcessStatus> {
  const recs = readJsonFile<Record<string, ProcessRecord>>(supervisorPaths(path.resolve(stateDir)).processes);
  const out: Record<string, ProcessStatus> = {};
  if (!recs || typeof recs !== "object") return out;
  for (const [name, rec] of Object.entries(recs)) {
    if (!rec || typeof rec.pid !== "number" || typeof rec.pgid !== "number") continue;
    out[name] = {
      ...rec,
      alive: isOurProcess(rec.pid, { startTime: rec.startTime }),
      liveMembers: ourGroupMembers(rec),
    };
  }
  return out;
}

export interface KillReport {
  /** Names whose group was signalled. */
  signalled: string[];
  /** Names that needed SIGKILL after the grace period. */
  forced: string[];
  /** Names whose group still had live members at the end. */
  remaining: string[];
}

/**
 * Cleanup when the supervisor is gone: send `signal` to every recorded process group that is still
 * ours and alive, wait (bounded by `timeoutMs`) for them to go away, SIGKILL the stragglers.
 * Killed leaders whose parent is gone may stay zombies (PID 1 may not reap); they hold nothing.
 */
export async function killRecordedGroups(
  stateDir: string,
  signal: NodeJS.Signals = "SIGTERM",
  opts: { timeoutMs?: number } = {},
): Promise<KillReport> {
  if (!isSignalName(signal)) throw new SupervisorError("kill", stateDir, `unknown signal ${signal}`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  const targets = Object.values(readProcesses(stateDir)).filter((p) => p.alive || p.liveMembers.length > 0);
  const report: KillReport = { signalled: [], forced: [], remaining: [] };
  for (const p of targets) {
    if (signalGroup(p.pgid, signal)) report.signalled.push(p.name);
    if (signal !== "SIGKILL" && signal !== "SIGCONT") signalGroup(p.pgid, "SIGCONT");
  }
  const live = () => targets.filter((p) => groupMembers(p.pgid).length > 0);
  if (!(await waitUntil(() => live().length === 0, timeoutMs, 25))) {
    for (const p of live()) {
      signalGroup(p.pgid, "SIGKILL");
      report.forced.push(p.name);
    }
    await waitUntil(() => live().length === 0, 5_000, 25);
  }
  report.remaining = live().map((p) => p.name);
  return report;
}
