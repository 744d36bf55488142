import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { FileError } from "../errors.js";

export type WriteAction = "created" | "changed" | "unchanged";

export interface FileToWrite {
  /** posix path relative to the output directory */
  path: string;
  content: string;
  mode?: number;
}

export interface PlannedWrite extends FileToWrite {
  absolute: string;
  action: WriteAction;
}

/** Compare each file with what is on disk. Reads only. */
export async function planWrites(files: readonly FileToWrite[], outDir: string): Promise<PlannedWrite[]> {
  return Promise.all(
    files.map(async (file) => {
      const absolute = path.join(outDir, ...file.path.split("/"));
      let existing: string | undefined;
      try {
        existing = await readFile(absolute, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
          throw new FileError(`cannot read ${absolute}: ${(err as Error).message}`, err);
        }
      }
      const action: WriteAction =
        existing === undefined ? "created" : existing === file.content ? "unchanged" : "changed";
      return { ...file, absolute, action };
    }),
  );
}

/**
 * Write every created or changed file atomically: all contents are first written and flushed to
 * temporary files beside their targets, then renamed into place. If any write fails, the
 * temporary files are removed and no target has been touched.
 */
export async function applyWrites(plan: readonly PlannedWrite[]): Promise<void> {
  const pending = plan.filter((p) => p.action !== "unchanged");
  const staged: { tmp: string; target: string }[] = [];
  try {
    for (const item of pending) {
      await mkdir(path.dirname(item.absolute), { recursive: true });
      const tmp = `${item.absolute}.${randomBytes(6).toString("hex")}.tmp`;
      staged.push({ tmp, target: item.absolute });
      const handle = await open(tmp, "wx", item.mode ?? 0o644);
      try {
        await handle.writeFile(item.content, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
      if (item.mode !== undefined) await chmod(tmp, item.mode);
    }
  } catch (err) {
    await Promise.all(staged.map((s) => rm(s.tmp, { force: true })));
    throw new FileError(`cannot write the rendered files: ${(err as Error).message}`, err);
  }
  for (const s of staged) await rename(s.tmp, s.target);
}
