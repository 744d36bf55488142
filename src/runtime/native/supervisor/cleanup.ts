/**
 * Cleanup when the supervisor is gone (killed, or its machine's PID 1 took its children): the
 * process groups recorded in processes.json, each checked against /proc before it is signalled.
 */
import { groupMembers } from "../procfs.js";
import { SupervisorError } from "./error.js";
import { isSignalName, signalGroup } from "./groups.js";
import { DEFAULT_STOP_TIMEOUT_MS } from "./protocol.js";
import { readProcesses } from "./state.js";
import { errorMessage, waitUntil } from "./wait.js";

/** After SIGKILL, how long to wait for the groups to disappear. */
const KILL_WAIT_MS = 5_000;
const POLL_MS = 25;

export interface KillReport {
  /** Names whose group was signalled. */
  signalled: string[];
  /** Names that needed SIGKILL after the grace period. */
  forced: string[];
  /** Names whose group still had live members at the end. */
  remaining: string[];
}

/**
 * Send `signal` to every recorded process group that is still ours and alive, wait (bounded by
 * `timeoutMs`) for them to go away, SIGKILL the stragglers. Killed leaders whose parent is gone may
 * stay zombies (PID 1 may not reap); they hold nothing.
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
  const send = (pgid: number, sig: NodeJS.Signals): boolean => {
    try {
      return signalGroup(pgid, sig);
    } catch (err) {
      if (err instanceof SupervisorError) throw err;
      throw new SupervisorError(
        "kill",
        stateDir,
        `cannot send ${sig} to process group ${pgid}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
  };
  for (const p of targets) {
    if (send(p.pgid, signal)) report.signalled.push(p.name);
    if (signal !== "SIGKILL" && signal !== "SIGCONT") send(p.pgid, "SIGCONT");
  }
  const live = () => targets.filter((p) => groupMembers(p.pgid).length > 0);
  if (!(await waitUntil(() => live().length === 0, timeoutMs, POLL_MS))) {
    for (const p of live()) {
      send(p.pgid, "SIGKILL");
      report.forced.push(p.name);
    }
    await waitUntil(() => live().length === 0, KILL_WAIT_MS, POLL_MS);
  }
  report.remaining = live().map((p) => p.name);
  return report;
}
