import { rm, stat } from "node:fs/promises";
import path from "node:path";
import { ConflictError, EXIT, PhpclusterError, RuntimeError, RuntimeUnavailableError } from "../errors.js";
import { applyWrites, planWrites } from "../files/write-plan.js";
import { renderCluster } from "../render/index.js";
import { appNodeNames, clusterNodes, memcachedNodeNames } from "../topology/index.js";
import {
  ensureSecret,
  ensureStateRoot,
  lockCluster,
  recordRuntime,
  removeStateRootIfEmpty,
} from "./cluster.js";
import type { ClusterContext, NodeStatus, RuntimeDriver, StepReporter } from "./driver.js";

/** Render the cluster's files for its runtime into its render directory (atomically). */
export async function writeRendered(
  cluster: ClusterContext,
  runtime: RuntimeDriver["name"],
  drained: string[] = [],
) {
  const rootFromOut = path.relative(cluster.renderDir, cluster.docroot).split(path.sep).join("/") || ".";
  const files = renderCluster(cluster.topology, { target: runtime, rootFromOut, drained });
  const plan = await planWrites(files, cluster.renderDir);
  await applyWrites(plan);
  return plan;
}

export async function requirePrerequisites(driver: RuntimeDriver): Promise<void> {
  const missing = (await driver.prerequisites()).filter((p) => !p.ok);
  if (missing.length > 0) {
    throw new RuntimeUnavailableError(
      `the ${driver.name} runtime needs ${missing.map((m) => m.name).join(", ")}, which ${missing.length === 1 ? "is" : "are"} missing`,
      `install ${missing
        .map((m) => m.package)
        .filter(Boolean)
        .join(" ")}, or run \`phpcluster doctor --install --yes\` as root on Debian`,
      { missing },
    );
  }
}

export interface CreateOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  reporter: StepReporter;
}

/** validate (done by the caller) → render → bring every node up → healthy. Changes nothing on failure. */
export async function createCluster(
  cluster: ClusterContext,
  driver: RuntimeDriver,
  opts: CreateOptions,
): Promise<NodeStatus[]> {
  const root = await stat(cluster.docroot).catch(() => undefined);
  if (!root?.isDirectory()) {
    const file = path.relative(process.cwd(), cluster.topologyFile) || cluster.topologyFile;
    throw new PhpclusterError(
      "DOCROOT_MISSING",
      `${file}: app.root "${cluster.topology.app.root}" is not a directory (${cluster.docroot})`,
      {
        exitCode: EXIT.TOPOLOGY,
        hint: "create it (phpcluster init writes public/index.php), or point app.root at your document root",
      },
    );
  }
  await requirePrerequisites(driver);
  await ensureStateRoot(cluster.topologyDir);
  const lock = await lockCluster(cluster.stateDir, "create");
  try {
    if (await driver.exists(cluster)) {
      throw new ConflictError(
        "CLUSTER_RUNNING",
        `cluster ${cluster.topology.name} is already running`,
        "nothing was changed: see `phpcluster status`, apply config with `phpcluster restart`, or `phpcluster destroy` first",
      );
    }
    await opts.reporter.step(`render ${driver.name} configs`, () => writeRendered(cluster, driver.name));
    await ensureSecret(cluster.stateDir);
    await recordRuntime(cluster.stateDir, driver.name);
    await driver.up(cluster, opts);
    return await driver.status(cluster);
  } finally {
    await lock.release();
  }
}

/** Stop everything and remove what create made: the state folder, never the user's files. */
export async function destroyCluster(
  cluster: ClusterContext,
  driver: RuntimeDriver,
  reporter: StepReporter,
): Promise<void> {
  const lock = await lockCluster(cluster.stateDir, "destroy");
  try {
    await driver.down(cluster, { reporter });
  } finally {
    await lock.release();
  }
  await rm(cluster.stateDir, { recursive: true, force: true });
  await removeStateRootIfEmpty(cluster.topologyDir);
}

export interface RestartOptions {
  allAtOnce: boolean;
  timeoutMs: number;
  reporter: StepReporter;
  /** false when the caller (verify) already holds the cluster lock. */
  lock?: boolean;
}

export interface RestartReport {
  restarted: string[];
  mode: "rolling" | "all-at-once";
}

/**
 * Apply the re-rendered config to nodes. App nodes one at a time by default: drained from the
 * balancer (marked down, graceful reload), stopped gracefully (in-flight requests finish),
 * started, healthy, put back. The balancer: `nginx -t`, then a graceful reload.
 */
export async function restartNodes(
  cluster: ClusterContext,
  driver: RuntimeDriver,
  nodes: string[],
  opts: RestartOptions,
): Promise<RestartReport> {
  const known = clusterNodes(cluster.topology).map((n) => n.name);
  const unknown = nodes.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new RuntimeError("UNKNOWN_NODE", `no node named ${unknown.join(", ")}`, {
      hint: `the nodes are ${known.join(", ")}`,
    });
  }
  // with no names: every app node and the balancer; Memcached only when named (it loses sessions)
  const chosen =
    nodes.length > 0 ? known.filter((n) => nodes.includes(n)) : [...appNodeNames(cluster.topology), "lb"];
  const apps = appNodeNames(cluster.topology).filter((n) => chosen.includes(n));
  const caches = memcachedNodeNames(cluster.topology).filter((n) => chosen.includes(n));
  const r = opts.reporter;
  const lock =
    opts.lock === false ? { release: async () => {} } : await lockCluster(cluster.stateDir, "restart");
  try {
    if (!(await driver.exists(cluster))) {
      throw new RuntimeError("NOT_RUNNING", `cluster ${cluster.topology.name} is not running`, {
        hint: "start it with `phpcluster create`",
      });
    }
    await r.step("render configs", () => writeRendered(cluster, driver.name));
    for (const cache of caches) {
      if (cluster.topology.sessions.replicas === 0) {
        r.warn(`restarting ${cache} loses the sessions it holds (sessions.replicas is 0)`);
      } else {
        r.warn(
          `${cache} comes back empty: sessions whose primary copy it held are lost (php-memcached reads the returning node first)`,
        );
      }
      await r.step(`restart ${cache}`, async () => {
        await driver.stopNode(cluster, cache);
        await driver.startNode(cluster, cache, { timeoutMs: opts.timeoutMs });
      });
    }
    if (opts.allAtOnce) {
      await r.step(`restart ${apps.join(", ")} at once`, async () => {
        await Promise.all(apps.map((a) => driver.stopNode(cluster, a)));
        await Promise.all(apps.map((a) => driver.startNode(cluster, a, { timeoutMs: opts.timeoutMs })));
      });
    } else {
      for (const app of apps) {
        await r.step(`drain ${app} from the balancer`, async () => {
          await writeRendered(cluster, driver.name, [app]);
          await driver.reloadBalancer(cluster);
        });
        try {
          await r.step(`restart ${app}`, async () => {
            await driver.stopNode(cluster, app);
            await driver.startNode(cluster, app, { timeoutMs: opts.timeoutMs });
          });
        } finally {
          await r.step(`put ${app} back`, async () => {
            await writeRendered(cluster, driver.name);
            await driver.reloadBalancer(cluster);
          });
        }
      }
    }
    if (chosen.includes("lb")) {
      await r.step("check and reload the balancer", () => driver.reloadBalancer(cluster));
    }
    return { restarted: chosen, mode: opts.allAtOnce ? "all-at-once" : "rolling" };
  } finally {
    await lock.release();
  }
}
