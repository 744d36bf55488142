import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { ConflictError } from "../errors.js";
import type { LoadedTopology, RuntimeName } from "../topology/index.js";
import type { ClusterContext } from "./driver.js";
import { isAlive } from "./native/procfs.js";

export function stateDirOf(loaded: Pick<LoadedTopology, "dir" | "topology">): string {
  return path.join(loaded.dir, ".phpcluster", loaded.topology.name);
}

export function clusterContext(loaded: LoadedTopology, runtime: RuntimeName): ClusterContext {
  const stateDir = stateDirOf(loaded);
  return {
    topology: loaded.topology,
    topologyFile: path.resolve(loaded.file),
    topologyDir: loaded.dir,
    stateDir,
    renderDir: path.join(stateDir, runtime),
    docroot: path.resolve(loaded.dir, loaded.topology.app.root),
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

/** The per-cluster probe secret: 32 random bytes, hex, in a 0600 file. Created once. */
export async function ensureSecret(stateDir: string): Promise<string> {
  const existing = await readSecret(stateDir);
  if (existing) return existing;
  await mkdir(stateDir, { recursive: true });
  const secret = randomBytes(32).toString("hex");
  const tmp = path.join(stateDir, `${SECRET_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, `${secret}\n`, { mode: 0o600, flag: "wx" });
  await rename(tmp, path.join(stateDir, SECRET_FILE));
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
  await mkdir(stateDir, { recursive: true });
  await writeFile(path.join(stateDir, RUNTIME_FILE), `${runtime}\n`);
}

export async function recordedRuntime(stateDir: string): Promise<RuntimeName | undefined> {
  try {
    const text = (await readFile(path.join(stateDir, RUNTIME_FILE), "utf8")).trim();
    return text === "native" || text === "compose" ? text : undefined;
  } catch {
    return undefined;
  }
}

export interface ClusterLock {
  release(): Promise<void>;
}

/**
 * An exclusive lock on one cluster, so two commands never interleave. The lock file holds the
 * owner's pid; a lock whose owner is gone is taken over.
 */
export async function lockCluster(stateDir: string, command: string): Promise<ClusterLock> {
  await mkdir(stateDir, { recursive: true });
  const file = path.join(stateDir, "lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, "wx", 0o600);
      await handle.writeFile(JSON.stringify({ pid: process.pid, command }));
      await handle.close();
      return { release: () => rm(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let owner: { pid?: number; command?: string } = {};
      try {
        owner = JSON.parse(await readFile(file, "utf8"));
      } catch {}
      if (typeof owner.pid === "number" && owner.pid !== process.pid && isAlive(owner.pid)) {
        throw new ConflictError(
          "CLUSTER_LOCKED",
          `another phpcluster command (${owner.command ?? "?"}, pid ${owner.pid}) is working on this cluster`,
          "wait for it to finish; nothing was changed",
        );
      }
      await rm(file, { force: true });
    }
  }
  throw new ConflictError("CLUSTER_LOCKED", `cannot take the lock ${file}`);
}
