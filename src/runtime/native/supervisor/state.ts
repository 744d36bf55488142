/**
 * The supervisor's state directory, shared by the supervisor and its client:
 * - `supervisor.json`  its pid, /proc start time and socket path (present while it serves);
 * - `processes.json`   every managed process, rewritten atomically on every change;
 * - `supervisor.lock`  one supervisor per state directory (see `files/lock.ts`);
 * - `supervisor.log`   its stdout/stderr (redirected by the launcher);
 * - `supervisor.sock`  its socket, or a short path in the temp dir when that path is too long.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeFileAtomicallySync } from "../../../files/write.js";
import { isOurProcess } from "../procfs.js";
import { ourGroupMembers } from "./groups.js";
import {
  type ProcessRecord,
  type ProcessStatus,
  processRecordSchema,
  type SupervisorInfo,
  supervisorInfoSchema,
} from "./protocol.js";

/** Longest socket path used (sun_path holds 108 bytes on Linux, fewer elsewhere). */
export const SOCKET_PATH_MAX = 100;

/** `<stateDir>/supervisor.sock`, or a short path in the temp dir when that is too long for a socket. */
export function socketPathFor(stateDir: string): string {
  const preferred = path.join(stateDir, "supervisor.sock");
  if (Buffer.byteLength(preferred) <= SOCKET_PATH_MAX) return preferred;
  const hash = createHash("sha1").update(stateDir).digest("hex").slice(0, 16);
  return path.join(os.tmpdir(), `phpcluster-${hash}.sock`);
}

export interface SupervisorPaths {
  info: string;
  processes: string;
  lock: string;
  log: string;
  socket: string;
}

export function supervisorPaths(stateDir: string): SupervisorPaths {
  return {
    info: path.join(stateDir, "supervisor.json"),
    processes: path.join(stateDir, "processes.json"),
    lock: path.join(stateDir, "supervisor.lock"),
    log: path.join(stateDir, "supervisor.log"),
    socket: socketPathFor(stateDir),
  };
}

/** Parsed JSON of a file, or undefined when it is missing or not JSON. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Write JSON atomically (mode 0644), so readers never see a half-written file. */
export function writeJsonFileSync(file: string, data: unknown): void {
  writeFileAtomicallySync(file, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o644 });
}

/** supervisor.json of a state directory (whether or not that supervisor still runs). */
export function readSupervisorInfo(stateDir: string): SupervisorInfo | undefined {
  const parsed = supervisorInfoSchema.safeParse(readJsonFile(supervisorPaths(path.resolve(stateDir)).info));
  return parsed.success ? parsed.data : undefined;
}

/**
 * The records of processes.json, by name (the key is the name). Records that do not match the
 * schema are skipped: they cannot be trusted to name a process group.
 */
export function readProcessRecords(stateDir: string): Record<string, ProcessRecord> {
  const data = readJsonFile(supervisorPaths(path.resolve(stateDir)).processes);
  const out: Record<string, ProcessRecord> = {};
  if (typeof data !== "object" || data === null || Array.isArray(data)) return out;
  for (const [name, value] of Object.entries(data)) {
    if (typeof value !== "object" || value === null) continue;
    const parsed = processRecordSchema.safeParse({ ...value, name });
    if (parsed.success) out[name] = parsed.data;
  }
  return out;
}

/** Write processes.json (atomically). */
export function writeProcessRecords(stateDir: string, records: Record<string, ProcessRecord>): void {
  writeJsonFileSync(supervisorPaths(path.resolve(stateDir)).processes, records);
}

/**
 * processes.json re-checked against /proc, usable whether or not the supervisor runs. A recorded pid
 * whose /proc start time no longer matches (a reused pid) counts as not alive.
 */
export function readProcesses(stateDir: string): Record<string, ProcessStatus> {
  const out: Record<string, ProcessStatus> = {};
  for (const [name, rec] of Object.entries(readProcessRecords(stateDir))) {
    out[name] = {
      ...rec,
      alive: isOurProcess(rec.pid, { startTime: rec.startTime }),
      liveMembers: ourGroupMembers(rec),
    };
  }
  return out;
}
