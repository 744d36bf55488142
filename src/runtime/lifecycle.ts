import { existsSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { fail, isPhpclusterError } from "../errors.js";
import { shownPath } from "../files/paths.js";
import { appNodeNames, clusterNodes, memcachedNodeNames, type RuntimeName } from "../topology/index.js";
import {
  ensureSecret,
  ensureStateRoot,
  readSecret,
  recordRuntime,
  removeStateRootIfEmpty,
  withClusterLock,
} from "./cluster.js";
import type { ClusterContext, LogChunk, NodeStatus, RuntimeDriver, StepReporter } from "./driver.js";
import { QUIET } from "./driver.js";
import type { OpenCluster } from "./index.js";
import {
  balancerEndpointOf,
  balancerUrl,
  type Endpoint,
  followLogs,
  imageBytes,
  nodeNames,
  nodeOf,
  reloadBalancer,
  shownImage,
  startHealthy,
  stopGraceMs,
  throwIfAborted,
  waitHealthy,
} from "./kit/index.js";
import { writeRendered } from "./rendered.js";
import { ensureTls } from "./tls.js";

/**
 * The lifecycle: everything commands do to a cluster, in one place and the same for every
 * runtime. It takes the cluster lock, checks preconditions, orders the nodes, waits for health,
 * rolls back what it started when it fails or is interrupted, and drains app nodes while they
 * restart. Drivers only carry each step out.
 */

export interface Progress {
  reporter: StepReporter;
  signal?: AbortSignal | undefined;
}

/** Where the balancer serves the cluster, from this host. */
export async function balancerEndpoint(driver: RuntimeDriver): Promise<Endpoint> {
  return driver.balancerEndpoint ? driver.balancerEndpoint() : balancerEndpointOf(driver.cluster.topology);
}

export async function requirePrerequisites(driver: RuntimeDriver): Promise<void> {
  const missing = (await driver.prerequisites()).filter((p) => !p.ok);
  if (missing.length > 0) {
    const packages = missing.map((m) => m.package).filter(Boolean);
    throw fail.runtimeUnavailable(
      `the ${driver.name} runtime needs ${missing.map((m) => m.name).join(", ")}, which ${missing.length === 1 ? "is" : "are"} missing`,
      driver.name === "native"
        ? `install ${packages.join(" ")}, or run \`phpcluster doctor --install --yes\` as root on Debian`
        : `install ${packages.join(" ")} and start the Docker engine, or use --runtime native (\`phpcluster doctor\` says what is usable)`,
      { missing },
    );
  }
}

/** The cluster exists (has processes or containers) and has its probe secret. */
export async function requireRunning(driver: RuntimeDriver): Promise<string> {
  const secret = await readSecret(driver.cluster.stateDir);
  if (!secret || !(await driver.exists())) throw fail.notRunning(`cluster ${driver.cluster.topology.name}`);
  return secret;
}

async function requireDocroot(cluster: ClusterContext): Promise<void> {
  const root = await stat(cluster.docroot).catch(() => undefined);
  if (!root?.isDirectory()) {
    throw fail.docrootMissing(cluster.topologyFileShown, cluster.topology.app.root, cluster.docroot);
  }
}

/**
 * Start every node in order (memcached, app nodes, the balancer), each healthy before the next.
 * When a node fails or the command is interrupted, everything started is stopped again.
 */
export async function bringUp(driver: RuntimeDriver, opts: Progress & { timeoutMs: number }): Promise<void> {
  await driver.preflight({ signal: opts.signal });
  try {
    await driver.prepare({ signal: opts.signal, reporter: opts.reporter });
    // the timeout bounds bringing the nodes up (a build has its own bound)
    const deadline = Date.now() + opts.timeoutMs;
    for (const node of clusterNodes(driver.cluster.topology)) {
      throwIfAborted(opts.signal);
      await opts.reporter.step(`start ${node.name}`, () =>
        startHealthy(driver, node.name, {
          timeoutMs: Math.max(1000, deadline - Date.now()),
          signal: opts.signal,
        }),
      );
    }
  } catch (err) {
    await opts.reporter
      .step("stop what was started", () => driver.down({ reporter: QUIET }))
      .catch((downErr: unknown) =>
        opts.reporter.warn(`could not stop everything: ${(downErr as Error).message}`),
      );
    if (opts.signal?.aborted) throw fail.cancelled();
    throw err;
  }
}

export interface CreateResult {
  name: string;
  runtime: RuntimeName;
  /** When `auto` picked the runtime: why this one. */
  autoReason?: string;
  url: string;
  nodes: NodeStatus[];
}

/** validate (done by loading) → render → bring every node up → healthy. Changes nothing on failure. */
export async function createCluster(
  open: OpenCluster,
  opts: Progress & { timeoutMs: number },
): Promise<CreateResult> {
  const { cluster, driver } = open;
  await requireDocroot(cluster);
  await requirePrerequisites(driver);
  const fresh = !existsSync(cluster.stateDir);
  await ensureStateRoot(cluster.topologyDir);
  let nodes: NodeStatus[];
  try {
    nodes = await withClusterLock(cluster.stateDir, "create", async () => {
      if (await driver.exists()) throw fail.clusterRunning(cluster.topology.name);
      await opts.reporter.step(`render ${driver.name} configs`, () => writeRendered(cluster, driver.name));
      if (cluster.topology.balancer.tls)
        await opts.reporter.step("TLS certificate", () => ensureTls(cluster));
      await ensureSecret(cluster.stateDir);
      await recordRuntime(cluster.stateDir, driver.name);
      await bringUp(driver, opts);
      return clusterStatusOf(driver);
    });
  } catch (err) {
    // a create that failed leaves no state folder it made (bringUp has stopped what it started)
    if (fresh && !(await driver.exists().catch(() => true))) {
      await rm(cluster.stateDir, { recursive: true, force: true });
      await removeStateRootIfEmpty(cluster.topologyDir);
    }
    throw err;
  }
  return {
    name: cluster.topology.name,
    runtime: driver.name,
    ...(open.autoReason ? { autoReason: open.autoReason } : {}),
    url: balancerUrl(await balancerEndpoint(driver)),
    nodes,
  };
}

/** Every node's status, in start order. */
export async function clusterStatusOf(driver: RuntimeDriver): Promise<NodeStatus[]> {
  const readings = await driver.inspect();
  return clusterNodes(driver.cluster.topology).map((n): NodeStatus => {
    const r = readings[n.name];
    return {
      name: n.name,
      role: n.role,
      state: r?.state ?? "stopped",
      address: r?.address ?? "",
      ...(r?.pid !== undefined && r.state !== "stopped" ? { pid: r.pid } : {}),
      ...(r?.detail !== undefined ? { detail: r.detail } : {}),
      ...(r?.items !== undefined ? { items: r.items } : {}),
      ...(r?.warming !== undefined ? { warming: r.warming } : {}),
      ...(r?.recovery !== undefined ? { recovery: r.recovery } : {}),
      ...(r?.host !== undefined ? { host: r.host } : {}),
    };
  });
}

export interface StatusResult {
  name: string;
  runtime: RuntimeName;
  url: string;
  running: boolean;
  nodes: NodeStatus[];
}

/** The cluster was created here: its state folder has the probe secret, or its nodes exist. */
export async function isCreated(driver: RuntimeDriver): Promise<boolean> {
  return (await readSecret(driver.cluster.stateDir)) !== undefined || (await driver.exists());
}

/** Every node's status; a cluster that was never created is an error (NOT_CREATED), not rows of "stopped". */
export async function clusterStatus(open: OpenCluster): Promise<StatusResult> {
  if (!(await isCreated(open.driver))) throw fail.notCreated(open.cluster.topology.name);
  const nodes = await clusterStatusOf(open.driver);
  return {
    name: open.cluster.topology.name,
    runtime: open.runtime,
    url: balancerUrl(await balancerEndpoint(open.driver)),
    running: nodes.every((n) => n.state === "running"),
    nodes,
  };
}

export interface DestroyResult {
  name: string;
  runtime: RuntimeName;
  /** False when there was nothing to destroy (never created, or destroyed already). */
  destroyed: boolean;
  /** The state folder removed, relative to the working directory when that is shorter. */
  removed: string;
  /**
   * compose, swarm: the images create built, removed (`--images`) or kept, and their size (each
   * copy counted on each engine that holds it); `elsewhere`: copies phpcluster cannot see or remove.
   */
  images: { removed: string[]; kept: string[]; bytes: number; elsewhere: string[] };
}

/**
 * Stop everything and remove what create made. The images it built stay unless `images` is set
 * (the next create is faster with them); the result says which and how much space they take.
 */
export async function destroyCluster(
  open: OpenCluster,
  opts: { reporter: StepReporter; cwd: string; images?: boolean },
): Promise<DestroyResult> {
  const { cluster, driver } = open;
  const created = existsSync(cluster.stateDir) || (await driver.exists());
  if (created) {
    await withClusterLock(cluster.stateDir, "destroy", () => driver.down({ reporter: opts.reporter }));
    await rm(cluster.stateDir, { recursive: true, force: true });
    await removeStateRootIfEmpty(cluster.topologyDir);
  }
  const { images: built, elsewhere } = driver.builtImages
    ? await driver.builtImages()
    : { images: [], elsewhere: [] };
  const bytes = imageBytes(built);
  if (opts.images && built.length > 0 && driver.removeBuiltImages) {
    const remove = driver.removeBuiltImages.bind(driver);
    await opts.reporter.step("remove the images create built", () => remove(built));
  }
  const removedImages = opts.images ? built.map(shownImage) : [];
  return {
    name: cluster.topology.name,
    runtime: driver.name,
    destroyed: created,
    removed: created ? shownPath(opts.cwd, cluster.stateDir) : "",
    images: { removed: removedImages, kept: opts.images ? [] : built.map(shownImage), bytes, elsewhere },
  };
}

// ---------------------------------------------------------------------------- up, start, stop

export interface UpResult {
  name: string;
  runtime: RuntimeName;
  url: string;
  /** `up` created the cluster (it did not exist). */
  created: boolean;
  /** The nodes started (or restarted, when they were unhealthy), in start order; [] when all were running. */
  started: string[];
  nodes: NodeStatus[];
}

/**
 * `up`: converge. Create the cluster when it does not exist; otherwise start every node that is
 * stopped and restart every one that is unhealthy (memcached nodes come back warm, through their
 * launcher), in start order, each healthy before the next. A healthy cluster is left untouched.
 */
export async function upCluster(
  open: OpenCluster,
  opts: Progress & { timeoutMs: number },
): Promise<UpResult> {
  if (!(await isCreated(open.driver))) {
    const r = await createCluster(open, opts);
    return { ...r, created: true, started: r.nodes.map((n) => n.name) };
  }
  return converge(open, opts, "up");
}

/** `start`: start a stopped (or degraded) cluster; one that was never created is an error. */
export async function startCluster(
  open: OpenCluster,
  opts: Progress & { timeoutMs: number },
): Promise<UpResult> {
  if (!(await isCreated(open.driver))) throw fail.notCreated(open.cluster.topology.name);
  return converge(open, opts, "start");
}

async function converge(
  open: OpenCluster,
  opts: Progress & { timeoutMs: number },
  command: string,
): Promise<UpResult> {
  const { cluster, driver } = open;
  const t = cluster.topology;
  const started: string[] = [];
  const nodes = await withClusterLock(cluster.stateDir, command, async () => {
    const before = await clusterStatusOf(driver);
    const todo = before.filter((n) => n.state !== "running");
    if (todo.length === 0) return before;
    await requireDocroot(cluster);
    await requirePrerequisites(driver);
    const wasStopped = todo.length === before.length;
    const deadline = Date.now() + opts.timeoutMs;
    try {
      await driver.prepare({ signal: opts.signal, reporter: opts.reporter });
      for (const node of todo) {
        throwIfAborted(opts.signal);
        const unhealthy = node.state === "unhealthy";
        await opts.reporter.step(
          unhealthy ? `restart ${node.name} (unhealthy)` : `start ${node.name}`,
          async () => {
            if (unhealthy) await driver.stopNode({ node: node.name, graceMs: stopGraceMs(t) });
            started.push(node.name);
            await startHealthy(driver, node.name, {
              timeoutMs: Math.max(1000, deadline - Date.now()),
              signal: opts.signal,
            });
          },
        );
      }
      // nginx keeps an app node that failed out of rotation for fail_timeout: a reload takes it back
      const apps = appNodeNames(t);
      if (!started.includes("lb") && started.some((n) => apps.includes(n))) {
        await opts.reporter.step("reload the balancer", () => reloadBalancer(driver));
      }
    } catch (err) {
      // a stopped cluster that did not come up is stopped again: never half started
      if (wasStopped) {
        await opts.reporter
          .step("stop what was started", () => stopNodes(driver, started))
          .catch((e: unknown) => opts.reporter.warn(`could not stop everything: ${(e as Error).message}`));
      }
      if (opts.signal?.aborted) throw fail.cancelled();
      throw err;
    }
    return clusterStatusOf(driver);
  });
  return {
    name: t.name,
    runtime: driver.name,
    url: balancerUrl(await balancerEndpoint(driver)),
    created: false,
    started,
    nodes,
  };
}

/**
 * Stop the named nodes gracefully in stop order (the balancer first, memcached last), then end
 * what the runtime runs for the cluster (`release`). Returns the nodes in the order stopped.
 */
async function stopNodes(
  driver: RuntimeDriver,
  names: string[],
  reporter: StepReporter = QUIET,
): Promise<string[]> {
  const t = driver.cluster.topology;
  const order = clusterNodes(t)
    .map((n) => n.name)
    .reverse()
    .filter((n) => names.includes(n));
  for (const node of order) {
    await reporter.step(`stop ${node}`, () => driver.stopNode({ node, graceMs: stopGraceMs(t) }));
  }
  await driver.release?.();
  return order;
}

export interface StopResult {
  name: string;
  runtime: RuntimeName;
  /** The nodes stopped, in stop order; [] when every node was stopped already. */
  stopped: string[];
}

/**
 * `stop`: stop every node (the balancer first, memcached last, each gracefully) and keep
 * everything else: rendered files, the secret, the memcached memory files (sessions survive a
 * `start`), images and containers.
 */
export async function stopCluster(open: OpenCluster, opts: Progress): Promise<StopResult> {
  const { cluster, driver } = open;
  if (!(await isCreated(driver))) throw fail.notCreated(cluster.topology.name);
  const stopped = await withClusterLock(cluster.stateDir, "stop", async () => {
    const running = (await clusterStatusOf(driver)).filter((n) => n.state !== "stopped").map((n) => n.name);
    return stopNodes(driver, running, opts.reporter);
  });
  return { name: cluster.topology.name, runtime: driver.name, stopped };
}

export async function clusterLogs(
  open: OpenCluster,
  opts: { node?: string | undefined; tail: number },
): Promise<{ logs: LogChunk[] }> {
  if (opts.node) nodeOf(open.cluster.topology, opts.node);
  return { logs: await open.driver.logs({ node: opts.node, tail: opts.tail }) };
}

/**
 * `logs --follow`: every node's log (or one node's) merged as lines come, each with its node,
 * until the signal aborts (Ctrl-C) or every stream ended (the cluster was destroyed).
 */
export async function followClusterLogs(
  open: OpenCluster,
  opts: {
    node?: string | undefined;
    tail: number;
    signal: AbortSignal;
    onLine(node: string, line: string): void;
  },
): Promise<{ nodes: string[] }> {
  if (opts.node) nodeOf(open.cluster.topology, opts.node);
  const sources = await open.driver.logSources({ node: opts.node, tail: opts.tail });
  await followLogs(sources, { tail: opts.tail, signal: opts.signal, onLine: opts.onLine });
  return { nodes: [...new Set(sources.map((s) => s.node))] };
}

// ------------------------------------------------------------------------------------- restart

export interface RestartOptions extends Progress {
  allAtOnce: boolean;
  timeoutMs: number;
  /** Every node is added here before it is restarted (config set rolls these back on a failure). */
  touched?: string[];
}

export interface RestartReport {
  restarted: string[];
  mode: "rolling" | "all-at-once";
}

/** Stop a node gracefully and start it again, healthy. */
export async function restartNode(
  driver: RuntimeDriver,
  node: string,
  opts: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<void> {
  await driver.stopNode({ node, graceMs: stopGraceMs(driver.cluster.topology) });
  await startHealthy(driver, node, opts);
}

/**
 * Bring a node back after it was killed or stopped, healthy, and reload the balancer (which would
 * otherwise keep the node out of rotation for up to fail_timeout). Not interruptible: it is what
 * an interrupted command runs to leave the cluster as it found it.
 */
export async function restoreNode(driver: RuntimeDriver, node: string, timeoutMs = 60_000): Promise<void> {
  await startHealthy(driver, node, { timeoutMs });
  // app nodes: nginx keeps a failed one out for fail_timeout; memcached nodes are not upstreams
  if (driver.cluster.topology.app.replicas > 0 && appNodeNames(driver.cluster.topology).includes(node)) {
    await reloadBalancer(driver);
  }
}

/**
 * Restart nodes with the configs already rendered. App nodes one at a time by default: drained
 * from the balancer (marked down, graceful reload), stopped gracefully (in-flight requests
 * finish), started, healthy, put back; an app node is always put back, also when its restart
 * failed or the command was interrupted. The balancer: `nginx -t`, then a graceful reload.
 * The caller holds the cluster lock.
 */
export async function restartInPlace(
  driver: RuntimeDriver,
  chosen: string[],
  opts: RestartOptions,
): Promise<RestartReport> {
  const t = driver.cluster.topology;
  const r = opts.reporter;
  const apps = appNodeNames(t).filter((n) => chosen.includes(n));
  const caches = memcachedNodeNames(t).filter((n) => chosen.includes(n));
  for (const cache of caches) {
    throwIfAborted(opts.signal);
    if (t.sessions.replicas === 0) {
      r.warn(
        `${cache} keeps its sessions (a warm restart), but they cannot be read while it restarts (sessions.replicas is 0: no second copy)`,
      );
    }
    opts.touched?.push(cache);
    await r.step(`restart ${cache}`, () =>
      withRestore(driver, cache, () => restartNode(driver, cache, opts)),
    );
  }
  if (opts.allAtOnce && apps.length > 0) {
    throwIfAborted(opts.signal);
    opts.touched?.push(...apps);
    await r.step(`restart ${apps.join(", ")} at once`, async () => {
      try {
        await Promise.all(apps.map((a) => driver.stopNode({ node: a, graceMs: stopGraceMs(t) })));
        await Promise.all(apps.map((a) => startHealthy(driver, a, opts)));
      } finally {
        await ensureRunning(driver, apps);
      }
    });
  } else {
    for (const app of apps) {
      throwIfAborted(opts.signal);
      try {
        await r.step(`drain ${app} from the balancer`, async () => {
          await writeRendered(driver.cluster, driver.name, [app]);
          await reloadBalancer(driver);
        });
        throwIfAborted(opts.signal);
        opts.touched?.push(app);
        await r.step(`restart ${app}`, () => withRestore(driver, app, () => restartNode(driver, app, opts)));
      } finally {
        await r.step(`put ${app} back`, async () => {
          await writeRendered(driver.cluster, driver.name);
          await reloadBalancer(driver);
        });
      }
    }
  }
  if (chosen.includes("lb")) {
    throwIfAborted(opts.signal);
    opts.touched?.push("lb");
    await r.step("check and reload the balancer", () => reloadBalancer(driver));
  }
  return { restarted: chosen, mode: opts.allAtOnce ? "all-at-once" : "rolling" };
}

/** Run work; when it fails or is interrupted, make sure the node runs again before rethrowing. */
async function withRestore(driver: RuntimeDriver, node: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (isPhpclusterError(err, "CANCELLED")) await ensureRunning(driver, [node]);
    throw err;
  }
}

/** Bring the nodes among these that are not running back, healthy (cleanup after an interruption). */
async function ensureRunning(driver: RuntimeDriver, nodes: string[]): Promise<void> {
  const readings = await driver.inspect({ nodes });
  for (const node of nodes) {
    const state = readings[node]?.state;
    if (state === "stopped") await startHealthy(driver, node, { timeoutMs: 60_000 });
    else if (state === "unhealthy") await waitHealthy(driver, node, { timeoutMs: 60_000 });
  }
}

/** Which nodes `restart` means: the named ones, or every app node and lb (memcached only when named). */
export function restartTargets(driver: RuntimeDriver, nodes: string[]): string[] {
  const t = driver.cluster.topology;
  for (const n of nodes) nodeOf(t, n);
  return nodes.length > 0 ? nodeNames(t).filter((n) => nodes.includes(n)) : [...appNodeNames(t), "lb"];
}

/** `phpcluster restart`: render the current topology, then restart (see restartInPlace). */
export async function restartNodes(
  open: OpenCluster,
  nodes: string[],
  opts: RestartOptions,
): Promise<RestartReport> {
  const { driver } = open;
  const chosen = restartTargets(driver, nodes);
  // never created: say so, and make nothing (the lock would make the state folder)
  if (!(await isCreated(driver))) throw fail.notCreated(open.cluster.topology.name);
  return withClusterLock(open.cluster.stateDir, "restart", async () => {
    await requireRunning(driver);
    await opts.reporter.step("render configs", () => writeRendered(driver.cluster, driver.name));
    // a renewed certificate (or a changed bind address) reaches the balancer with its restart
    if (chosen.includes("lb") && driver.cluster.topology.balancer.tls) await ensureTls(driver.cluster);
    return restartInPlace(driver, chosen, opts);
  });
}
