/**
 * Process groups of the supervised services. Every service is spawned as the leader of its own
 * group, so a stop signals the whole group (Apache's workers, a shell's children). A recorded group
 * is only ever signalled after checking it is still ours: PIDs get reused.
 */
import os from "node:os";
import { bootTimeMs, groupMemberStats, groupMembers, readProcStat, startTimeToMs } from "../procfs.js";
import { SupervisorError } from "./error.js";
import type { ProcessRecord } from "./protocol.js";

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

/** A signal name this system knows (`SIGTERM`, `SIGHUP`, …). */
export function isSignalName(name: unknown): name is NodeJS.Signals {
  return typeof name === "string" && Object.hasOwn(os.constants.signals, name);
}

/** Send a signal to a whole process group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) {
    throw new SupervisorError("signal", "-", `refusing to signal process group ${pgid}`);
  }
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}
