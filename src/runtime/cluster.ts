import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fail } from "../errors.js";
import { acquireLock, type Lock, LockHeldError } from "../files/lock.js";
import { writeFileAtomically } from "../files/write.js";
import type { LoadedTopology, RuntimeName } from "../topology/index.js";
import type { ClusterContext } from "./driver.js";

/**
 * The state of one cluster beside its topology file: `.phpcluster/<name>/` holds the rendered
 * files, the probe secret, the runtime that created it, the lock, and the native runtime's
 * processes and logs.
 */
export function stateDirOf(loaded: Pick<LoadedTopology, "dir" | "topology">): string {
  return path.join(loaded.dir, ".phpcluster", loaded.topology.name);
}

export function clusterContext(
  loaded: LoadedTopology,
  runtime: RuntimeName,
  env: NodeJS.ProcessEnv,
): ClusterContext {
  const stateDir = stateDirOf(loaded);
  return {
    topology: loaded.topology,
    topologyFileShown: loaded.file,
    topologyFile: path.resolve(loaded.dir, path.basename(loaded.file)),
    topologyDir: loaded.dir,
    stateDir,
    renderDir: path.join(stateDir, runtime),
    docroot: path.resolve(loaded.dir, loaded.topology.app.root),
    env,
  };
}

/**
 * `.phpcluster/` holds generated state only: a `.gitignore` of `*` inside keeps it out of the
 * user's repository without touching their own .gitignore.
 */
export async function ensureStateRoot(topologyDir: string): Promise<void> {
  const root = path.join(topologyDir, ".phpcluster");
  await mkdir(root, { recursive: true });
  await writeFile(path.join(root, ".gitignore"), "*\n", { flag: "wx" }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    },
  );
}

/** Remove `.phpcluster/` when no cluster is left in it (only our .gitignore). */
export async function removeStateRootIfEmpty(topologyDir: string): Promise<void> {
  const root = path.join(topologyDir, ".phpcluster");
  const entries = await readdir(root).catch(() => undefined);
  if (entries?.every((e) => e === ".gitignore")) await rm(root, { recursive: true, force: true });
}

const SECRET_FILE = "secret";
const RUNTIME_FILE = "runtime";
const RUNTIMES: readonly RuntimeName[] = ["native", "compose", "swarm"];

/** The per-cluster probe secret: 32 random bytes, hex, in a 0600 file. Created once. */
export async function ensureSecret(stateDir: string): Promise<string> {
  const existing = await readSecret(stateDir);
  if (existing) return existing;
  const secret = randomBytes(32).toString("hex");
  await writeFileAtomically(path.join(stateDir, SECRET_FILE), `${secret}\n`, { mode: 0o600 });
  return secret;
}

export async function readSecret(stateDir: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(stateDir, SECRET_FILE), "utf8")).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Which runtime made the cluster: later commands use the same one, whatever `auto` would pick now. */
export async function recordRuntime(stateDir: string, runtime: RuntimeName): Promise<void> {
  await writeFileAtomically(path.join(stateDir, RUNTIME_FILE), `${runtime}\n`);
}

export async function recordedRuntime(stateDir: string): Promise<RuntimeName | undefined> {
  try {
    const text = (await readFile(path.join(stateDir, RUNTIME_FILE), "utf8")).trim();
    return RUNTIMES.find((r) => r === text);
  } catch {
    return undefined;
  }
}

/** An exclusive lock on one cluster, so two commands never interleave (see files/lock.ts). */
export async function lockCluster(stateDir: string, command: string): Promise<Lock> {
  await mkdir(stateDir, { recursive: true });
  try {
    return await acquireLock(path.join(stateDir, "lock"), command);
  } catch (err) {
    if (err instanceof LockHeldError) throw fail.locked(err.owner);
    throw err;
  }
}

/** Run `work` holding the cluster lock. */
export async function withClusterLock<T>(
  stateDir: string,
  command: string,
  work: () => Promise<T>,
): Promise<T> {
  const lock = await lockCluster(stateDir, command);
  try {
    return await work();
  } finally {
    await lock.release();
  }
}
