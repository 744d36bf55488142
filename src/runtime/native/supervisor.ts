/**
 * The per-cluster supervisor: a long-lived Node process that spawns the cluster's services as its
 * own children (each in its own process group) and reaps them, so they never become orphans or
 * zombies on machines whose PID 1 does not reap. Short-lived CLI invocations control it over a Unix
 * socket (newline-delimited JSON, one response line per request); see `supervisor-client.ts`.
 *
 * Files under the state directory:
 * - `supervisor.json`  its pid, /proc start time and socket path (present while it serves);
 * - `processes.json`   every managed process, rewritten atomically on every change;
 * - `supervisor.lock`  one supervisor per state directory;
 * - `supervisor.log`   its stdout/stderr (redirected by the launcher).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  bootTimeMs,
  groupMemberStats,
  groupMembers,
  isOurProcess,
  readProcStat,
  startTimeToMs,
} from "./procfs.js";

// ---------------------------------------------------------------------------------------------
// Protocol and records

export type ProcessState = "running" | "exited";

export interface ProcessRecord {
  name: string;
  pid: number;
  /** Always equal to pid: every service is spawned as the leader of its own process group. */
  pgid: number;
  /** /proc start time (clock ticks after boot): the PID-reuse guard. */
  startTime: number;
  argv: string[];
  cwd: string;
  state: ProcessState;
  /** ISO timestamps. */
  startedAt: string;
  exitedAt?: string;
  exitCode?: number | null;
  signal?: string | null;
  logFile: string;
  /** Found running by a later supervisor (the one that spawned it died); watched by polling. */
  adopted?: boolean;
}

export interface ProcessStatus extends ProcessRecord {
  /** The leader is alive (not a zombie) and still the process that was started. */
  alive: boolean;
  /** Live members of its process group (e.g. Apache workers left behind by a dead parent). */
  liveMembers: number[];
}

export interface SupervisorInfo {
  pid: number;
  startTime: number;
  socketPath: string;
  stateDir: string;
  startedAt: string;
}

export interface StartRequest {
  op: "start";
  name: string;
  command: string;
  args?: string[];
  /** The complete environment of the child (nothing is inherited). */
  env: Record<string, string>;
  /** Working directory (default: the state directory); relative paths resolve against it. */
  cwd?: string;
  /** stdout and stderr are appended here; relative paths resolve against the state directory. */
  logFile: string;
}
export interface StopRequest {
  op: "stop";
  name: string;
  signal?: string;
  timeoutMs?: number;
}
export interface SignalRequest {
  op: "signal";
  name: string;
  signal: string;
}
export interface StatusRequest {
  op: "status";
}
export interface ShutdownRequest {
  op: "shutdown";
  order?: string[];
  /** Per-process grace period before SIGKILL. */
  timeoutMs?: number;
}
export type SupervisorRequest = StartRequest | StopRequest | SignalRequest | StatusRequest | ShutdownRequest;
export type SupervisorOp = SupervisorRequest["op"];

export interface ErrorResponse {
  ok: false;
  error: string;
}
export interface StartResponse {
  ok: true;
  pid: number;
  pgid: number;
  startTime: number;
}
export interface StopResponse {
  ok: true;
  alreadyStopped: boolean;
  exitCode: number | null;
  signal: string | null;
  /** SIGKILL was needed after the grace period. */
  forced: boolean;
  /** Group members that outlived their leader and were killed now. */
  strays?: number;
}
export interface SignalResponse {
  ok: true;
  pid: number;
}
export interface StatusResponse {
  ok: true;
  supervisor: SupervisorInfo;
  /** A shutdown is in progress: the supervisor is about to exit. */
  shuttingDown: boolean;
  processes: Record<string, ProcessStatus>;
}
export interface ShutdownResponse {
  ok: true;
  stopped: Record<string, StopResponse>;
  /** Processes that could not be stopped (the supervisor exits anyway). */
  errors: Record<string, string>;
}
export type SupervisorResponse =
  | ErrorResponse
  | StartResponse
  | StopResponse
  | SignalResponse
  | StatusResponse
  | ShutdownResponse;

export interface ResponseMap {
  start: StartResponse;
  stop: StopResponse;
  signal: SignalResponse;
  status: StatusResponse;
  shutdown: ShutdownResponse;
}

// ---------------------------------------------------------------------------------------------
// Paths and small file helpers (shared with the client)

export const SOCKET_PATH_MAX = 100;
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** After SIGKILL, how long to wait for the group to disappear before giving up. */
const KILL_WAIT_MS = 5_000;
const POLL_MS = 20;
/** Housekeeping period (adopted processes, supervisor.json, socket, state directory). */
const TICK_MS = 250;

/** `<stateDir>/supervisor.sock`, or a short path in the temp dir when that is too long for a socket. */
export function socketPathFor(stateDir: string): string {
  const preferred = path.join(stateDir, "supervisor.sock");
  if (Buffer.byteLength(preferred) <= SOCKET_PATH_MAX) return preferred;
  const hash = createHash("sha1").update(stateDir).digest("hex").slice(0, 16);
  return path.join(os.tmpdir(), `phpcluster-${hash}.sock`);
}

export function supervisorPaths(stateDir: string) {
  return {
    info: path.join(stateDir, "supervisor.json"),
    processes: path.join(stateDir, "processes.json"),
    lock: path.join(stateDir, "supervisor.lock"),
    log: path.join(stateDir, "supervisor.log"),
    socket: socketPathFor(stateDir),
  };
}

let tmpCounter = 0;
/** Write JSON via a temp file + rename, so readers never see a half-written file. */
export function writeJsonAtomic(file: string, data: unknown): void {
  const tmp = `${file}.${process.pid}.${++tmpCounter}.tmp`;
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export function readJsonFile<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/**
 * Live members of a recorded process group that can be trusted to be that group, even when the
 * supervisor that spawned it is gone (PID-reuse guard):
 * - leader present in /proc (alive or zombie) with the recorded start time: all live members;
 *   a different start time means the pid was reused: none;
 * - leader gone: the group still exists only while members hold its id, so they are its remains,
 *   except in the unlikely case that the pid was reused by another group leader that exited too;
 *   members must have started after the recorded leader and not after its recorded exit.
 */
export function ourGroupMembers(
  rec: Pick<ProcessRecord, "pid" | "pgid" | "startTime" | "exitedAt">,
): number[] {
  const leader = readProcStat(rec.pid);
  if (leader) return leader.startTime === rec.startTime ? groupMembers(rec.pgid) : [];
  const members = groupMemberStats(rec.pgid);
  if (members.length === 0) return [];
  const exitedMs = rec.exitedAt ? Date.parse(rec.exitedAt) : undefined;
  const boot = bootTimeMs();
  return members
    .filter((m) => {
      if (m.startTime < rec.startTime) return false;
      if (exitedMs === undefined || Number.isNaN(exitedMs)) return true;
      const started = startTimeToMs(m.startTime, boot);
      // btime has a 1 s resolution: allow some slack.
      return started === undefined || started <= exitedMs + 2_000;
    })
    .map((m) => m.pid);
}

export function isSignalName(name: unknown): name is NodeJS.Signals {
  return typeof name === "string" && Object.hasOwn(os.constants.signals, name);
}

/** Send a signal to a whole process group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`refusing to signal process group ${pgid}`);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `cond` every `intervalMs` until it holds (true) or `timeoutMs` passes (false). */
export async function waitUntil(
  cond: () => boolean,
  timeoutMs: number,
  intervalMs = POLL_MS,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// The supervisor

interface Managed {
  record: ProcessRecord;
  child?: ChildProcess;
  stopping?: Promise<StopResponse>;
}

export interface SupervisorOptions {
  /** One log line (no trailing newline). Default: nothing. */
  log?: (line: string) => void;
  /** Called once after `shutdown` finished and the files are removed; the entry exits here. */
  onExit?: (code: number) => void;
}

class RequestError extends Error {}

export class Supervisor {
  readonly stateDir: string;
  readonly paths: ReturnType<typeof supervisorPaths>;
  private readonly procs = new Map<string, Managed>();
  private readonly log: (line: string) => void;
  private readonly onExit: (code: number) => void;
  private server: net.Server | undefined;
  private info: SupervisorInfo | undefined;
  private shuttingDown: Promise<ShutdownResponse> | undefined;
  private poller: NodeJS.Timeout | undefined;
  private closed = false;
  private exitScheduled = false;
  private rebinding = false;

  constructor(stateDir: string, opts: SupervisorOptions = {}) {
    if (!path.isAbsolute(stateDir)) throw new Error(`state directory must be absolute: ${stateDir}`);
    this.stateDir = path.resolve(stateDir);
    this.paths = supervisorPaths(this.stateDir);
    this.log = opts.log ?? (() => {});
    this.onExit = opts.onExit ?? (() => {});
  }

  /**
   * Take the lock, adopt survivors of a previous supervisor, listen, then write supervisor.json.
   * The state directory must exist (the launcher creates it): a supervisor never resurrects a
   * directory that was removed.
   */
  async listen(): Promise<SupervisorInfo> {
    if (!isDirectory(this.stateDir)) throw new Error(`state directory does not exist: ${this.stateDir}`);
    const self = readProcStat(process.pid);
    const startTime = self?.startTime ?? 0;
    this.acquireLock(startTime);
    try {
      await this.confirmLock();
      this.adoptPrevious();
      this.persist();
      const socketPath = this.paths.socket;
      fs.rmSync(socketPath, { force: true }); // stale: the lock says no other supervisor is alive
      this.server = await this.bind(socketPath);
      this.info = {
        pid: process.pid,
        startTime,
        socketPath,
        stateDir: this.stateDir,
        startedAt: new Date().toISOString(),
      };
      writeJsonAtomic(this.paths.info, this.info);
      this.poller = setInterval(() => this.tick(), TICK_MS);
      this.log(`listening on ${socketPath} (state ${this.stateDir})`);
      return this.info;
    } catch (err) {
      this.server?.close();
      this.releaseLock();
      throw err;
    }
  }

  /** Handle one decoded request. Never throws: failures become `{ ok: false, error }`. */
  async handle(req: unknown): Promise<SupervisorResponse> {
    try {
      if (typeof req !== "object" || req === null || Array.isArray(req))
        throw new RequestError("request must be a JSON object");
      const op = (req as { op?: unknown }).op;
      switch (op) {
        case "start":
          return await this.start(req as StartRequest);
        case "stop":
          return await this.stop(req as StopRequest);
        case "signal":
          return this.signal(req as SignalRequest);
        case "status":
          return this.status();
        case "shutdown":
          return await this.shutdown(req as ShutdownRequest);
        default:
          throw new RequestError(`unknown op ${JSON.stringify(op)}`);
      }
    } catch (err) {
      return { ok: false, error: errorMessage(err) };
    }
  }

  async start(req: StartRequest): Promise<StartResponse | ErrorResponse> {
    if (this.shuttingDown) throw new RequestError("the supervisor is shutting down");
    const name = requireName(req.name);
    if (typeof req.command !== "string" || req.command === "")
      throw new RequestError("start: command is required");
    const args = req.args ?? [];
    if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
      throw new RequestError("start: args must be an array of strings");
    }
    const env = req.env;
    if (typeof env !== "object" || env === null || !Object.values(env).every((v) => typeof v === "string")) {
      throw new RequestError("start: env must be an object of strings (the complete environment)");
    }
    if (typeof req.logFile !== "string" || req.logFile === "")
      throw new RequestError("start: logFile is required");

    const existing = this.procs.get(name);
    if (existing?.stopping) throw new RequestError(`"${name}" is being stopped`);
    if (existing?.record.state === "running") {
      throw new RequestError(`"${name}" is already running (pid ${existing.record.pid})`);
    }

    const cwd = path.resolve(this.stateDir, req.cwd ?? ".");
    if (!isDirectory(cwd))
      throw new RequestError(`cannot start "${name}": working directory does not exist: ${cwd}`);
    const logFile = path.resolve(this.stateDir, req.logFile);
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const fd = fs.openSync(logFile, "a", 0o644);
    let child: ChildProcess;
    try {
      child = spawn(req.command, args, { cwd, env, detached: true, stdio: ["ignore", fd, fd] });
    } catch (err) {
      return { ok: false, error: describeSpawnError(name, req.command, err) };
    } finally {
      fs.closeSync(fd); // the child has its own copy
    }
    const pid = child.pid;
    if (pid === undefined) {
      // spawn failures (ENOENT, EACCES, …) arrive as an 'error' event on the next tick
      const err = await new Promise<unknown>((resolve) => {
        child.once("error", resolve);
        setTimeout(() => resolve(new Error("spawn failed without an error")), 2_000).unref();
      });
      this.log(`start ${name} failed: ${errorMessage(err)}`);
      return { ok: false, error: describeSpawnError(name, req.command, err) };
    }
    // The child cannot have been reaped yet (that happens on a later loop turn), so /proc has it.
    const startTime = readProcStat(pid)?.startTime ?? 0;
    const record: ProcessRecord = {
      name,
      pid,
      pgid: pid,
      startTime,
      argv: [req.command, ...args],
      cwd,
      state: "running",
      startedAt: new Date().toISOString(),
      logFile,
    };
    const managed: Managed = { record, child };
    this.procs.set(name, managed);
    child.on("error", (err) => this.log(`${name} (pid ${pid}): ${errorMessage(err)}`));
    child.on("exit", (code, signal) => {
      // Node (libuv) has reaped the child here: no zombie remains.
      record.state = "exited";
      record.exitedAt = new Date().toISOString();
      record.exitCode = code;
      record.signal = signal;
      this.persist();
      this.log(`${name} (pid ${pid}) exited: ${signal ? `signal ${signal}` : `code ${code}`}`);
    });
    this.persist();
    this.log(`started ${name} (pid ${pid}): ${record.argv.join(" ")}`);
    return { ok: true, pid, pgid: pid, startTime };
  }

  async stop(req: StopRequest): Promise<StopResponse> {
    const name = requireName(req.name);
    const signal = req.signal ?? "SIGTERM";
    if (!isSignalName(signal)) throw new RequestError(`stop: unknown signal ${JSON.stringify(signal)}`);
    const timeoutMs = req.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    if (typeof timeoutMs !== "number" || !(timeoutMs >= 0))
      throw new RequestError("stop: timeoutMs must be >= 0");
    return this.stopOne(name, signal, timeoutMs);
  }

  signal(req: SignalRequest): SignalResponse {
    const name = requireName(req.name);
    if (!isSignalName(req.signal))
      throw new RequestError(`signal: unknown signal ${JSON.stringify(req.signal)}`);
    const managed = this.procs.get(name);
    if (managed?.record.state !== "running") throw new RequestError(`"${name}" is not running`);
    const { pid, startTime } = managed.record;
    if (managed.record.adopted && !isOurProcess(pid, { startTime })) {
      this.markAdoptedExited(managed);
      throw new RequestError(`"${name}" is not running`);
    }
    process.kill(pid, req.signal);
    this.log(`sent ${req.signal} to ${name} (pid ${pid})`);
    return { ok: true, pid };
  }

  status(): StatusResponse {
    this.pollAdopted();
    const processes: Record<string, ProcessStatus> = {};
    for (const [name, { record }] of this.procs) {
      const running = record.state === "running";
      processes[name] = {
        ...record,
        alive: running && isOurProcess(record.pid, { startTime: record.startTime }),
        liveMembers: running ? groupMembers(record.pgid) : ourGroupMembers(record),
      };
    }
    if (!this.info) throw new Error("the supervisor is not listening");
    return { ok: true, supervisor: this.info, shuttingDown: this.shuttingDown !== undefined, processes };
  }

  /** Stop every process (the given order first, one by one; the rest in parallel). Idempotent. */
  shutdown(req: Omit<ShutdownRequest, "op"> = {}): Promise<ShutdownResponse> {
    if (this.shuttingDown) return this.shuttingDown;
    const order = req.order ?? [];
    if (!Array.isArray(order) || !order.every((n) => typeof n === "string")) {
      return Promise.reject(new RequestError("shutdown: order must be an array of names"));
    }
    const timeoutMs = req.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.log(`shutting down (order: ${order.join(", ") || "-"})`);
    this.shuttingDown = (async () => {
      const stopped: Record<string, StopResponse> = {};
      const errors: Record<string, string> = {};
      const stopNamed = async (name: string) => {
        try {
          stopped[name] = await this.stopOne(name, "SIGTERM", timeoutMs);
        } catch (err) {
          errors[name] = errorMessage(err);
          this.log(`shutdown: ${name}: ${errors[name]}`);
        }
      };
      const done = new Set<string>();
      for (const name of order) {
        if (done.has(name) || !this.procs.has(name)) continue;
        done.add(name);
        await stopNamed(name);
      }
      await Promise.all([...this.procs.keys()].filter((n) => !done.has(n)).map(stopNamed));
      return { ok: true as const, stopped, errors };
    })();
    return this.shuttingDown;
  }

  /** `shutdown`, then close the socket, remove supervisor.json/socket/lock and call onExit(0). */
  async shutdownAndExit(req: Omit<ShutdownRequest, "op"> = {}): Promise<ShutdownResponse> {
    const res = await this.shutdown(req);
    this.finish();
    return res;
  }

  /** Close the socket and remove the supervisor's files (processes.json stays). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    this.server?.close();
    const info = readJsonFile<SupervisorInfo>(this.paths.info);
    if (info?.pid === process.pid) fs.rmSync(this.paths.info, { force: true });
    if (this.info) fs.rmSync(this.info.socketPath, { force: true });
    this.releaseLock();
  }

  /** Records as they are now (for tests and the entry). */
  records(): ProcessRecord[] {
    return [...this.procs.values()].map((m) => ({ ...m.record }));
  }

  // -------------------------------------------------------------------------------------------

  private finish(): void {
    this.close();
    if (this.exitScheduled) return;
    this.exitScheduled = true;
    this.log("shut down");
    // Give concurrent shutdown responses a moment to flush.
    setTimeout(() => this.onExit(0), 50);
  }

  private stopOne(name: string, signal: NodeJS.Signals, timeoutMs: number): Promise<StopResponse> {
    const managed = this.procs.get(name);
    if (!managed)
      return Promise.resolve({ ok: true, alreadyStopped: true, exitCode: null, signal: null, forced: false });
    if (managed.stopping) return managed.stopping;
    const promise = this.doStop(managed, signal, timeoutMs).finally(() => {
      managed.stopping = undefined;
    });
    managed.stopping = promise;
    return promise;
  }

  private async doStop(managed: Managed, signal: NodeJS.Signals, timeoutMs: number): Promise<StopResponse> {
    const rec = managed.record;
    if (rec.adopted) this.pollAdopted();
    let alreadyStopped = false;
    let strays: number | undefined;
    if (rec.state === "exited") {
      // The leader is gone; kill what is left of its group (e.g. Apache workers after a parent-only kill).
      const members = ourGroupMembers(rec);
      if (members.length === 0) {
        return {
          ok: true,
          alreadyStopped: true,
          exitCode: rec.exitCode ?? null,
          signal: rec.signal ?? null,
          forced: false,
        };
      }
      alreadyStopped = true;
      strays = members.length;
    }
    const leaderGone = () => {
      if (rec.adopted && rec.state === "running" && !isOurProcess(rec.pid, { startTime: rec.startTime })) {
        this.markAdoptedExited(managed);
      }
      return rec.state === "exited";
    };
    const done = () => leaderGone() && groupMembers(rec.pgid).length === 0;

    this.log(`stopping ${rec.name} (pgid ${rec.pgid}) with ${signal}`);
    signalGroup(rec.pgid, signal);
    // A stopped (SIGSTOP) process only acts on the signal once continued.
    if (signal !== "SIGKILL" && signal !== "SIGCONT") signalGroup(rec.pgid, "SIGCONT");
    let forced = false;
    if (!(await waitUntil(done, timeoutMs))) {
      forced = true;
      this.log(`${rec.name} still alive after ${timeoutMs} ms: SIGKILL to group ${rec.pgid}`);
      signalGroup(rec.pgid, "SIGKILL");
      if (!(await waitUntil(done, KILL_WAIT_MS))) {
        const left = groupMembers(rec.pgid);
        throw new Error(
          `"${rec.name}" (pgid ${rec.pgid}) did not go away after SIGKILL` +
            (left.length ? `; live members: ${left.join(", ")}` : "; its leader was not reaped"),
        );
      }
    }
    const res: StopResponse = {
      ok: true,
      alreadyStopped,
      exitCode: rec.exitCode ?? null,
      signal: rec.signal ?? null,
      forced,
    };
    if (strays !== undefined) res.strays = strays;
    return res;
  }

  /**
   * One supervisor per state directory. The lock file is created complete and atomically (temp file
   * + link, which fails if it exists), so a reader never sees it half-written. A lock whose holder
   * is dead (or a reused pid) is stale and broken.
   */
  private acquireLock(startTime: number): void {
    const lock = this.paths.lock;
    const tmp = `${lock}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, startTime }), { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          fs.linkSync(tmp, lock);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        const holder = this.lockHolder();
        if (holder !== undefined && holder !== process.pid) throw lockedError(holder, this.stateDir);
        fs.rmSync(lock, { force: true }); // stale
      }
      throw new Error(`could not take the supervisor lock ${lock}`);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** pid of the live supervisor holding the lock, if any. */
  private lockHolder(): number | undefined {
    const holder = readJsonFile<{ pid?: number; startTime?: number }>(this.paths.lock);
    if (typeof holder?.pid !== "number") return undefined;
    return isOurProcess(holder.pid, { startTime: holder.startTime }) ? holder.pid : undefined;
  }

  /**
   * Two launchers breaking the same stale lock at once could both believe they hold it: after a
   * moment, only the one whose lock is in place goes on.
   */
  private async confirmLock(): Promise<void> {
    await sleep(20);
    const holder = this.lockHolder();
    if (holder !== process.pid) {
      throw holder === undefined ? new Error("lost the supervisor lock") : lockedError(holder, this.stateDir);
    }
  }

  private releaseLock(): void {
    const holder = readJsonFile<{ pid?: number }>(this.paths.lock);
    if (holder?.pid === process.pid) fs.rmSync(this.paths.lock, { force: true });
  }

  /** Load processes.json of a previous supervisor: survivors are adopted, the rest marked exited. */
  private adoptPrevious(): void {
    const previous = readJsonFile<Record<string, ProcessRecord>>(this.paths.processes);
    if (!previous || typeof previous !== "object") return;
    for (const [name, rec] of Object.entries(previous)) {
      if (!rec || typeof rec !== "object" || typeof rec.pid !== "number") continue;
      const record: ProcessRecord = { ...rec, name };
      if (record.state === "running") {
        if (isOurProcess(record.pid, { startTime: record.startTime })) {
          record.adopted = true;
          this.log(`adopted ${name} (pid ${record.pid}) from a previous supervisor`);
        } else {
          record.state = "exited";
          record.exitedAt ??= new Date().toISOString();
          record.exitCode ??= null;
          record.signal ??= null;
        }
      }
      this.procs.set(name, { record });
    }
  }

  private async bind(socketPath: string): Promise<net.Server> {
    const server = net.createServer((sock) => this.onConnection(sock));
    const oldUmask = process.umask(0o177); // the socket is created 0600
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(socketPath, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldUmask);
    }
    fs.chmodSync(socketPath, 0o600);
    server.on("error", (err) => this.log(`socket error: ${errorMessage(err)}`));
    return server;
  }

  /**
   * Periodic housekeeping: notice adopted processes that went away, and keep the supervisor
   * reachable. State directory removed: nobody can manage the cluster any more, so stop it all and
   * exit. supervisor.json or the socket removed (e.g. a temp cleaner): recreate them.
   */
  private tick(): void {
    if (this.closed || this.shuttingDown) return;
    this.pollAdopted();
    if (!isDirectory(this.stateDir)) {
      this.log(`state directory ${this.stateDir} was removed: stopping everything`);
      this.shutdownAndExit().catch((err: unknown) => this.log(`shutdown failed: ${errorMessage(err)}`));
      return;
    }
    if (this.info && readJsonFile<SupervisorInfo>(this.paths.info)?.pid !== process.pid) {
      this.log(`${this.paths.info} is missing: rewriting it`);
      this.tryOrLog(() => writeJsonAtomic(this.paths.info, this.info));
    }
    const socketPath = this.info?.socketPath;
    if (socketPath && !this.rebinding && !fs.existsSync(socketPath)) {
      this.log(`socket ${socketPath} is missing: listening again`);
      this.rebinding = true;
      // Close first: closing a pipe server unlinks its path, which would remove the new socket.
      this.server?.close();
      this.server = undefined;
      this.bind(socketPath)
        .then((server) => {
          if (this.closed) server.close();
          else this.server = server;
        })
        .catch((err: unknown) => this.log(`cannot listen again: ${errorMessage(err)}`))
        .finally(() => {
          this.rebinding = false;
        });
    }
  }

  private tryOrLog(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log(errorMessage(err));
    }
  }

  private pollAdopted(): void {
    for (const managed of this.procs.values()) {
      const rec = managed.record;
      if (rec.adopted && rec.state === "running" && !isOurProcess(rec.pid, { startTime: rec.startTime })) {
        this.markAdoptedExited(managed);
      }
    }
  }

  private markAdoptedExited(managed: Managed): void {
    const rec = managed.record;
    if (rec.state === "exited") return;
    rec.state = "exited";
    rec.exitedAt = new Date().toISOString();
    rec.exitCode = null; // not our child: the exit status is unknowable
    rec.signal = null;
    this.persist();
    this.log(`${rec.name} (pid ${rec.pid}, adopted) is gone`);
  }

  private persist(): void {
    const data: Record<string, ProcessRecord> = {};
    for (const [name, { record }] of this.procs) data[name] = record;
    try {
      writeJsonAtomic(this.paths.processes, data);
    } catch (err) {
      this.log(`cannot write ${this.paths.processes}: ${errorMessage(err)}`);
    }
  }

  private onConnection(sock: net.Socket): void {
    sock.setEncoding("utf8");
    sock.on("error", () => {});
    let buffer = "";
    let chain = Promise.resolve();
    sock.on("data", (chunk: string) => {
      buffer += chunk;
      if (buffer.length > 1_000_000) {
        sock.destroy();
        return;
      }
      for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
        const line = buffer.slice(0, i).trim();
        buffer = buffer.slice(i + 1);
        if (line) chain = chain.then(() => this.processLine(sock, line));
      }
    });
  }

  private async processLine(sock: net.Socket, line: string): Promise<void> {
    let req: unknown;
    let res: SupervisorResponse;
    try {
      req = JSON.parse(line);
      res = await this.handle(req);
    } catch {
      res = { ok: false, error: "invalid JSON request" };
    }
    await new Promise<void>((resolve) => {
      if (sock.destroyed || !sock.writable) return resolve();
      sock.write(`${JSON.stringify(res)}\n`, () => resolve());
    });
    if (res.ok && (req as { op?: unknown }).op === "shutdown") this.finish();
  }
}

function lockedError(pid: number, stateDir: string): Error {
  const err: NodeJS.ErrnoException = new Error(
    `another supervisor (pid ${pid}) already runs for ${stateDir}`,
  );
  err.code = "ELOCKED";
  return err;
}

function requireName(name: unknown): string {
  if (typeof name !== "string" || name === "" || name.length > 200) {
    throw new RequestError("name must be a non-empty string");
  }
  return name;
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function describeSpawnError(name: string, command: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") return `cannot start "${name}": command not found: ${command} (ENOENT)`;
  if (code === "EACCES") return `cannot start "${name}": permission denied: ${command} (EACCES)`;
  return `cannot start "${name}": ${errorMessage(err)}`;
}
