/**
 * Small Linux `/proc` helpers for the native runtime.
 *
 * Why not `kill -0`: on machines whose PID 1 does not reap orphans, a dead service stays a zombie
 * (state `Z`) and `kill -0` still succeeds. Liveness therefore looks at the state in /proc/PID/stat.
 * PIDs get reused, so a recorded pid is only trusted when its /proc start time (field 22) matches.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcStat {
  pid: number;
  /** The command name between the parentheses (may contain spaces and parentheses). */
  comm: string;
  /** One letter: R, S, D, T, t, Z, X, I, … */
  state: string;
  ppid: number;
  pgid: number;
  /** Session id (field 6). */
  sid: number;
  /** Start time after boot in clock ticks (field 22); stable for the life of the process. */
  startTime: number;
}

/**
 * Parse the text of /proc/PID/stat. The comm field is free text in parentheses, so the split
 * happens at the LAST `)`; everything after it is space-separated numbers/letters.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = fields[0];
  const ppid = Number(fields[1]);
  const pgid = Number(fields[2]);
  const sid = Number(fields[3]);
  const startTime = Number(fields[19]);
  if (!Number.isInteger(pid) || pid <= 0 || !state || ![ppid, pgid, sid, startTime].every(Number.isInteger)) {
    return undefined;
  }
  return { pid, comm, state, ppid, pgid, sid, startTime };
}

function validPid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0;
}

/** /proc/PID/stat of a process, or undefined if it does not exist (zombies DO exist). */
export function readProcStat(pid: number): ProcStat | undefined {
  if (!validPid(pid)) return undefined;
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** Z (zombie) or X (dead): gone for every practical purpose, even though /proc still lists it. */
export function isDeadState(state: string): boolean {
  return state === "Z" || state === "X" || state === "x";
}

/** The process exists and is not a zombie (nor dead-but-not-yet-gone). */
export function isAlive(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && !isDeadState(stat.state);
}

/** argv of a process from /proc/PID/cmdline (empty array for zombies/kernel threads), or undefined. */
export function readCmdline(pid: number): string[] | undefined {
  if (!validPid(pid)) return undefined;
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (raw === "") return [];
    const parts = raw.split("\0");
    if (parts[parts.length - 1] === "") parts.pop();
    return parts;
  } catch {
    return undefined;
  }
}

/** Stat of every process currently visible in /proc (thread-group leaders only). */
export function listProcesses(): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat) out.push(stat);
  }
  return out;
}

/** Live (non-zombie) members of a process group, sorted by pid. */
export function groupMembers(pgid: number): number[] {
  if (!validPid(pgid)) return [];
  return groupMemberStats(pgid).map((s) => s.pid);
}

/** Like {@link groupMembers} but with the full stat of each live member. */
export function groupMemberStats(pgid: number): ProcStat[] {
  if (!validPid(pgid)) return [];
  return listProcesses()
    .filter((s) => s.pgid === pgid && !isDeadState(s.state))
    .sort((a, b) => a.pid - b.pid);
}

export interface ProcessIdentity {
  /** /proc start time (field 22, clock ticks after boot) recorded when the process was started. */
  startTime?: number;
  /** A fragment that must occur in the space-joined /proc/PID/cmdline. */
  argvIncludes?: string;
}

/**
 * Guard against PID reuse: true only if `pid` is alive (not a zombie) and matches every given
 * part of `expected`. With an empty `expected` it is the same as {@link isAlive}.
 */
export function isOurProcess(pid: number, expected: ProcessIdentity): boolean {
  const stat = readProcStat(pid);
  if (!stat || isDeadState(stat.state)) return false;
  if (expected.startTime !== undefined && stat.startTime !== expected.startTime) return false;
  if (expected.argvIncludes !== undefined) {
    const argv = readCmdline(pid);
    if (!argv?.join(" ").includes(expected.argvIncludes)) return false;
  }
  return true;
}

/** Clock ticks per second for /proc times (USER_HZ; 100 on every mainstream Linux). */
export const CLOCK_TICKS = 100;

/** Boot time in ms since the epoch (`btime` in /proc/stat), or undefined off Linux. */
export function bootTimeMs(): number | undefined {
  try {
    const match = /^btime\s+(\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
    return match?.[1] ? Number(match[1]) * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Wall-clock time (ms since epoch) at which a process with this /proc start time started. */
export function startTimeToMs(startTime: number, bootMs = bootTimeMs()): number | undefined {
  if (bootMs === undefined) return undefined;
  return bootMs + (startTime * 1000) / CLOCK_TICKS;
}
