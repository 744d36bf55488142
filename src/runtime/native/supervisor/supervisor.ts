/**
 * The per-cluster supervisor: a long-lived Node process that spawns the cluster's services as its
 * own children (each in its own process group) and reaps them, so they never become orphans or
 * zombies on machines whose PID 1 does not reap. Short-lived CLI invocations control it over a Unix
 * socket (see `protocol.ts` for the messages, `server.ts` for the socket, `client.ts` for the other
 * side); its files are described in `state.ts`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { acquireLock, type Lock } from "../../../files/lock.js";
import { groupMembers, isOurProcess, readProcStat } from "../procfs.js";
import { SupervisorError } from "./error.js";
import { ourGroupMembers, signalGroup } from "./groups.js";
import {
  DEFAULT_STOP_TIMEOUT_MS,
  type ErrorResponse,
  type ProcessRecord,
  type ProcessStatus,
  parseRequest,
  type ShutdownRequest,
  type ShutdownResponse,
  type SignalRequest,
  type SignalResponse,
  type StartRequest,
  type StartResponse,
  type StatusResponse,
  type StopRequest,
  type StopResponse,
  type SupervisorInfo,
  type SupervisorResponse,
  supervisorInfoSchema,
} from "./protocol.js";
import { LineServer, type Reply } from "./server.js";
import {
  readJsonFile,
  readProcessRecords,
  type SupervisorPaths,
  supervisorPaths,
  writeJsonFileSync,
  writeProcessRecords,
} from "./state.js";
import { errorMessage, waitUntil } from "./wait.js";

/** After SIGKILL, how long to wait for the group to disappear before giving up. */
const KILL_WAIT_MS = 5_000;
/** Housekeeping period (adopted processes, supervisor.json, socket, state directory). */
const TICK_MS = 250;
/** How long a spawn that returned no pid may take to report its error. */
const SPAWN_ERROR_WAIT_MS = 2_000;

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

export class Supervisor {
  readonly stateDir: string;
  readonly paths: SupervisorPaths;
  private readonly procs = new Map<string, Managed>();
  private readonly log: (line: string) => void;
  private readonly onExit: (code: number) => void;
  private lock: Lock | undefined;
  private server: LineServer | undefined;
  private info: SupervisorInfo | undefined;
  private shuttingDown: Promise<ShutdownResponse> | undefined;
  private poller: NodeJS.Timeout | undefined;
  private closed = false;
  private exitScheduled = false;

  constructor(stateDir: string, opts: SupervisorOptions = {}) {
    if (!path.isAbsolute(stateDir)) {
      throw new SupervisorError("init", stateDir, `state directory must be absolute: ${stateDir}`);
    }
    this.stateDir = path.resolve(stateDir);
    this.paths = supervisorPaths(this.stateDir);
    this.log = opts.log ?? (() => {});
    this.onExit = opts.onExit ?? (() => {});
  }

  /**
   * Take the lock, adopt survivors of a previous supervisor, listen, then write supervisor.json.
   * The state directory must exist (the launcher creates it): a supervisor never resurrects a
   * directory that was removed. Another live supervisor of the directory: `LockHeldError`.
   */
  async listen(): Promise<SupervisorInfo> {
    if (!isDirectory(this.stateDir)) {
      throw new SupervisorError("listen", this.stateDir, `state directory does not exist: ${this.stateDir}`);
    }
    const startTime = readProcStat(process.pid)?.startTime ?? 0;
    this.lock = await acquireLock(this.paths.lock, "supervisor");
    try {
      this.adoptPrevious();
      this.persist();
      const socketPath = this.paths.socket;
      fs.rmSync(socketPath, { force: true }); // stale: the lock says no other supervisor is alive
      this.server = new LineServer(socketPath, (req) => this.onRequest(req), { log: this.log });
      await this.server.listen();
      this.info = {
        pid: process.pid,
        startTime,
        socketPath,
        stateDir: this.stateDir,
        startedAt: new Date().toISOString(),
      };
      writeJsonFileSync(this.paths.info, this.info);
      this.poller = setInterval(() => this.tick(), TICK_MS);
      this.log(`listening on ${socketPath} (state ${this.stateDir})`);
      return this.info;
    } catch (err) {
      this.server?.close();
      this.lock.releaseSync();
      throw err;
    }
  }

  /**
   * Handle one decoded request: validated against the protocol's schema, then carried out. Never
   * throws: failures become `{ ok: false, error }`.
   */
  async handle(req: unknown): Promise<SupervisorResponse> {
    const parsed = parseRequest(req);
    if (!parsed.ok) return { ok: false, error: parsed.error };
    const request = parsed.request;
    try {
      switch (request.op) {
        case "start":
          return await this.start(request);
        case "stop":
          return await this.stop(request);
        case "signal":
          return this.signal(request);
        case "status":
          return this.status();
        case "shutdown":
          return await this.shutdown(request);
      }
    } catch (err) {
      return { ok: false, error: err instanceof SupervisorError ? err.reason : errorMessage(err) };
    }
  }

  async start(req: StartRequest): Promise<StartResponse | ErrorResponse> {
    const { name } = req;
    if (this.shuttingDown) throw this.refuse("start", "the supervisor is shutting down");
    const args = req.args ?? [];

    const existing = this.procs.get(name);
    if (existing?.stopping) throw this.refuse("start", `"${name}" is being stopped`);
    if (existing?.record.state === "running") {
      throw this.refuse("start", `"${name}" is already running (pid ${existing.record.pid})`);
    }

    const cwd = path.resolve(this.stateDir, req.cwd ?? ".");
    if (!isDirectory(cwd)) {
      throw this.refuse("start", `cannot start "${name}": working directory does not exist: ${cwd}`);
    }
    const logFile = path.resolve(this.stateDir, req.logFile);
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const fd = fs.openSync(logFile, "a", 0o644);
    let child: ChildProcess;
    try {
      child = spawn(req.command, args, { cwd, env: req.env, detached: true, stdio: ["ignore", fd, fd] });
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
        setTimeout(() => resolve(new Error("spawn failed without an error")), SPAWN_ERROR_WAIT_MS).unref();
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

  stop(req: Omit<StopRequest, "op">): Promise<StopResponse> {
    return this.stopOne(
      req.name,
      req.signal ?? "SIGTERM",
      req.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
      req.leaderOnly ?? false,
    );
  }

  signal(req: Omit<SignalRequest, "op">): SignalResponse {
    const { name, signal } = req;
    const managed = this.procs.get(name);
    if (managed?.record.state !== "running") throw this.refuse("signal", `"${name}" is not running`);
    const { pid, startTime } = managed.record;
    if (managed.record.adopted && !isOurProcess(pid, { startTime })) {
      this.markAdoptedExited(managed);
      throw this.refuse("signal", `"${name}" is not running`);
    }
    process.kill(pid, signal);
    this.log(`sent ${signal} to ${name} (pid ${pid})`);
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
    if (!this.info) throw this.refuse("status", "the supervisor is not listening");
    return { ok: true, supervisor: this.info, shuttingDown: this.shuttingDown !== undefined, processes };
  }

  /** Stop every process (the given order first, one by one; the rest in parallel). Idempotent. */
  shutdown(req: Omit<ShutdownRequest, "op"> = {}): Promise<ShutdownResponse> {
    if (this.shuttingDown) return this.shuttingDown;
    const order = req.order ?? [];
    const timeoutMs = req.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.log(`shutting down (order: ${order.join(", ") || "-"})`);
    this.shuttingDown = (async () => {
      const stopped: Record<string, StopResponse> = {};
      const errors: Record<string, string> = {};
      const stopNamed = async (name: string) => {
        try {
          stopped[name] = await this.stopOne(name, "SIGTERM", timeoutMs);
        } catch (err) {
          errors[name] = err instanceof SupervisorError ? err.reason : errorMessage(err);
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
    if (this.readOwnInfo()) fs.rmSync(this.paths.info, { force: true });
    this.lock?.releaseSync();
  }

  /** Records as they are now (for tests and the entry). */
  records(): ProcessRecord[] {
    return [...this.procs.values()].map((m) => ({ ...m.record }));
  }

  // -------------------------------------------------------------------------------------------

  /** A request that cannot be carried out: answered `{ ok: false, error: message }`. */
  private refuse(op: string, message: string): SupervisorError {
    return new SupervisorError(op, this.stateDir, message);
  }

  private async onRequest(req: unknown): Promise<Reply> {
    const response = await this.handle(req);
    const isShutdown = (req as { op?: unknown } | null)?.op === "shutdown";
    // Exit only once the answer to a shutdown is written.
    return { response, afterWrite: response.ok && isShutdown ? () => this.finish() : undefined };
  }

  private finish(): void {
    this.close();
    if (this.exitScheduled) return;
    this.exitScheduled = true;
    this.log("shut down");
    // Give concurrent shutdown responses a moment to flush.
    setTimeout(() => this.onExit(0), 50);
  }

  private stopOne(
    name: string,
    signal: NodeJS.Signals,
    timeoutMs: number,
    leaderOnly = false,
  ): Promise<StopResponse> {
    const managed = this.procs.get(name);
    if (!managed)
      return Promise.resolve({ ok: true, alreadyStopped: true, exitCode: null, signal: null, forced: false });
    if (managed.stopping) return managed.stopping;
    const promise = this.doStop(managed, signal, timeoutMs, leaderOnly).finally(() => {
      managed.stopping = undefined;
    });
    managed.stopping = promise;
    return promise;
  }

  private async doStop(
    managed: Managed,
    signal: NodeJS.Signals,
    timeoutMs: number,
    leaderOnly = false,
  ): Promise<StopResponse> {
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

    this.log(`stopping ${rec.name} (pgid ${rec.pgid}) with ${signal}${leaderOnly ? " to its leader" : ""}`);
    if (leaderOnly && rec.state === "running") {
      try {
        process.kill(rec.pid, signal);
      } catch {}
    } else signalGroup(rec.pgid, signal);
    // A stopped (SIGSTOP) process only acts on the signal once continued.
    if (signal !== "SIGKILL" && signal !== "SIGCONT") signalGroup(rec.pgid, "SIGCONT");
    let forced = false;
    if (!(await waitUntil(done, timeoutMs))) {
      forced = true;
      this.log(`${rec.name} still alive after ${timeoutMs} ms: SIGKILL to group ${rec.pgid}`);
      signalGroup(rec.pgid, "SIGKILL");
      if (!(await waitUntil(done, KILL_WAIT_MS))) {
        const left = groupMembers(rec.pgid);
        throw this.refuse(
          "stop",
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

  /** Load processes.json of a previous supervisor: survivors are adopted, the rest marked exited. */
  private adoptPrevious(): void {
    for (const [name, record] of Object.entries(readProcessRecords(this.stateDir))) {
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

  /** supervisor.json, if it is this supervisor's. */
  private readOwnInfo(): boolean {
    const parsed = supervisorInfoSchema.safeParse(readJsonFile(this.paths.info));
    return parsed.success && parsed.data.pid === process.pid;
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
    if (this.info && !this.readOwnInfo()) {
      this.log(`${this.paths.info} is missing: rewriting it`);
      try {
        writeJsonFileSync(this.paths.info, this.info);
      } catch (err) {
        this.log(errorMessage(err));
      }
    }
    this.server?.relistenIfGone();
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
      writeProcessRecords(this.stateDir, data);
    } catch (err) {
      this.log(`cannot write ${this.paths.processes}: ${errorMessage(err)}`);
    }
  }
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
