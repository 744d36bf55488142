/**
 * Client side of the per-cluster supervisor (see `supervisor.ts`), used by short-lived CLI
 * invocations: launch or find the supervisor of a state directory and talk to it over its Unix
 * socket. Every response is validated against the protocol's schemas. When the supervisor is gone,
 * `readProcesses` (state.ts) and `killRecordedGroups` (cleanup.ts) deal with what it left behind.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isAlive, isOurProcess } from "../procfs.js";
import { SupervisorError } from "./error.js";
import {
  DEFAULT_STOP_TIMEOUT_MS,
  parseResponse,
  type ResponseMap,
  type ShutdownResponse,
  type SignalResponse,
  type StartRequest,
  type StartResponse,
  type StatusResponse,
  type StopResponse,
  type SupervisorInfo,
  type SupervisorOp,
  type SupervisorRequest,
} from "./protocol.js";
import { readSupervisorInfo, supervisorPaths } from "./state.js";
import { errorMessage, sleep, waitUntil } from "./wait.js";

export { SupervisorError } from "./error.js";
export { readSupervisorInfo } from "./state.js";

const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
const DEFAULT_LAUNCH_TIMEOUT_MS = 10_000;
/** Slack on top of a stop's grace period: the SIGKILL wait plus the round trip. */
const STOP_SLACK_MS = 10_000;

/**
 * The compiled entry `supervisor/main.js`: beside this file when running from `dist/`, else (sources
 * run by vitest or tsx from `src/`) in `dist/` of the same checkout.
 */
export function resolveSupervisorEntry(): string {
  const candidates = [
    fileURLToPath(new URL("./main.js", import.meta.url)),
    fileURLToPath(new URL("../../../../dist/runtime/native/supervisor/main.js", import.meta.url)),
  ];
  const found = candidates.find((file) => fs.existsSync(file));
  if (!found) {
    throw new SupervisorError(
      "launch",
      "-",
      `supervisor/main.js not found (looked at ${candidates.join(", ")})`,
      { hint: "run `npm run build` first" },
    );
  }
  return found;
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

/**
 * One request over a fresh connection: write one JSON line, read one JSON line (decoded, not yet
 * validated). Bounded by `timeoutMs`.
 */
function rawRequest(socketPath: string, req: SupervisorRequest, timeoutMs: number): Promise<unknown> {
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
          resolve(JSON.parse(line) as unknown);
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

  /**
   * Send one request and validate the answer; `{ ok: false }` answers become a SupervisorError
   * carrying the supervisor's message, and so does an answer that is not a response to `req.op`.
   */
  async request<O extends SupervisorOp>(
    req: Extract<SupervisorRequest, { op: O }>,
    timeoutMs = this.defaultTimeoutMs,
  ): Promise<ResponseMap[O]> {
    let raw: unknown;
    try {
      raw = await rawRequest(this.info.socketPath, req, timeoutMs);
    } catch (err) {
      const alive = this.isAlive();
      throw new SupervisorError(
        req.op,
        this.stateDir,
        `${errorMessage(err)} (socket ${this.info.socketPath}; supervisor pid ${this.info.pid} ${alive ? "alive" : "not running"})`,
        { cause: err },
      );
    }
    const parsed = parseResponse(req.op as O, raw);
    if (!parsed.valid) {
      throw new SupervisorError(req.op, this.stateDir, `invalid response: ${parsed.issues}`, {
        hint: `supervisor pid ${this.info.pid} may be of another phpcluster version; see ${supervisorPaths(this.stateDir).log}`,
      });
    }
    const res = parsed.response;
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
    opts: { signal?: NodeJS.Signals; timeoutMs?: number; leaderOnly?: boolean } & RequestOptions = {},
  ): Promise<StopResponse> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    const req: Extract<SupervisorRequest, { op: "stop" }> = { op: "stop", name, timeoutMs };
    if (opts.signal) req.signal = opts.signal;
    if (opts.leaderOnly) req.leaderOnly = true;
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
  /** The entry `supervisor/main.js` to run (default: {@link resolveSupervisorEntry}). */
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
