import { readFileSync, rmSync } from "node:fs";
import { link, readFile, rm, writeFile } from "node:fs/promises";
import { isOurProcess, readProcStat } from "../runtime/native/procfs.js";

/**
 * The one lock of phpcluster (the cluster lock of commands, the supervisor's lock of its state
 * directory): a file created complete and atomically (a temporary file, then `link`, which fails
 * when the lock exists), holding the owner's pid and its /proc start time. A lock whose owner is
 * gone, or whose pid now belongs to another process (PID reuse), is stale and taken over.
 */

export interface LockOwner {
  pid: number;
  startTime?: number;
  /** What holds it, for messages: "verify", "supervisor". */
  command?: string;
}

export interface Lock {
  readonly file: string;
  /** Remove the lock file, if it still names this process. */
  release(): Promise<void>;
  /** The same, synchronously (for code that must not yield, e.g. a supervisor closing on exit). */
  releaseSync(): void;
}

/** Thrown when a live process holds the lock; the caller words it. */
export class LockHeldError extends Error {
  constructor(
    readonly file: string,
    readonly owner: LockOwner,
  ) {
    super(`${file} is held by pid ${owner.pid}${owner.command ? ` (${owner.command})` : ""}`);
  }
}

export async function readLockOwner(file: string): Promise<LockOwner | undefined> {
  try {
    return parseLockOwner(await readFile(file, "utf8"));
  } catch {
    return undefined;
  }
}

function parseLockOwner(text: string): LockOwner | undefined {
  try {
    const data = JSON.parse(text) as Partial<LockOwner>;
    return typeof data.pid === "number" ? (data as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

function readLockOwnerSync(file: string): LockOwner | undefined {
  try {
    return parseLockOwner(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

/** The live process holding the lock file, if any. */
export async function lockHolder(file: string): Promise<LockOwner | undefined> {
  const owner = await readLockOwner(file);
  if (!owner) return undefined;
  return isOurProcess(owner.pid, owner.startTime === undefined ? {} : { startTime: owner.startTime })
    ? owner
    : undefined;
}

export async function acquireLock(file: string, command: string): Promise<Lock> {
  const me: LockOwner = { pid: process.pid, startTime: readProcStat(process.pid)?.startTime, command };
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, JSON.stringify(me), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(tmp, file);
        // Processes breaking the same stale lock at once could each remove the other's fresh
        // lock and believe they hold it: after a moment only the one whose lock is in place goes on.
        // (Always, not only after a take-over of our own: a racer may have removed ours.)
        await new Promise((r) => setTimeout(r, 20));
        const now = await readLockOwner(file);
        if (now?.pid !== process.pid) {
          if (now === undefined) continue; // removed by a racer that then gave up: try again
          throw new LockHeldError(file, now ?? { pid: 0 });
        }
        return {
          file,
          release: async () => {
            if ((await readLockOwner(file))?.pid === process.pid) await rm(file, { force: true });
          },
          releaseSync: () => {
            if (readLockOwnerSync(file)?.pid === process.pid) rmSync(file, { force: true });
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const holder = await lockHolder(file);
      if (holder && holder.pid !== process.pid) throw new LockHeldError(file, holder);
      await rm(file, { force: true }); // stale: its owner is gone
    }
    throw new LockHeldError(file, (await readLockOwner(file)) ?? { pid: 0 });
  } finally {
    await rm(tmp, { force: true });
  }
}
