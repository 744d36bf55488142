import { mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import writeFileAtomic from "write-file-atomic";
import { fail } from "../errors.js";

/**
 * The one way phpcluster writes files: each file atomically (write-file-atomic: a temporary file
 * beside the target, fsync, rename), and a set of files as a transaction: when one write fails,
 * the files already written get their previous content back (created ones are removed), so a
 * failed command leaves no half-written set behind. `undo()` does the same after a later failure.
 */

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
  /** What the file held before (undefined: it did not exist). */
  previous: string | undefined;
}

/** Compare each file with what is on disk. Reads only. */
export async function planWrites(files: readonly FileToWrite[], outDir: string): Promise<PlannedWrite[]> {
  return Promise.all(
    files.map(async (file) => {
      const absolute = path.join(outDir, ...file.path.split("/"));
      const previous = await readIfExists(absolute);
      const action: WriteAction =
        previous === undefined ? "created" : previous === file.content ? "unchanged" : "changed";
      return { ...file, absolute, action, previous };
    }),
  );
}

export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fail.file(`cannot read ${file}: ${(err as Error).message}`, err);
  }
}

/** Write one file atomically (with its directory). */
export async function writeFileAtomically(
  file: string,
  content: string,
  opts: { mode?: number | undefined } = {},
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, content, opts.mode === undefined ? {} : { mode: opts.mode });
}

/** Synchronous variant, for code that must not yield (a supervisor recording a child's exit). */
export function writeFileAtomicallySync(file: string, content: string, opts: { mode?: number } = {}): void {
  writeFileAtomic.sync(file, content, opts.mode === undefined ? {} : { mode: opts.mode });
}

export interface AppliedWrites {
  /** Put every written file back as it was before `applyWrites`. */
  undo(): Promise<void>;
}

/**
 * Write every created or changed file. On a failure the files written so far are put back and a
 * FILE_ERROR is thrown: either every file of the plan is written, or none is.
 */
export async function applyWrites(plan: readonly PlannedWrite[]): Promise<AppliedWrites> {
  const written: PlannedWrite[] = [];
  const undo = async () => {
    for (const item of written.reverse()) {
      if (item.previous === undefined) await rm(item.absolute, { force: true });
      else await writeFileAtomically(item.absolute, item.previous, { mode: item.mode });
    }
    written.length = 0;
  };
  try {
    for (const item of plan) {
      if (item.action === "unchanged") continue;
      await writeFileAtomically(item.absolute, item.content, { mode: item.mode });
      written.push(item);
    }
  } catch (err) {
    await undo().catch(() => {});
    throw fail.file(
      `cannot write ${path.basename(plan[0]?.absolute ?? "")}…: ${(err as Error).message}`,
      err,
    );
  }
  return { undo };
}
