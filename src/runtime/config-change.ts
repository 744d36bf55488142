import path from "node:path";
import { fail } from "../errors.js";
import { type AppliedWrites, applyWrites, planWrites } from "../files/write.js";
import type { ClusterManifest } from "../render/index.js";
import { MANIFEST_PATH } from "../render/index.js";
import {
  checkTopologyText,
  clusterNodes,
  configPath,
  type Edit,
  editTopologyText,
  parseValue,
  type RuntimeName,
  type Topology,
  type TopologyIssue,
  writtenValue,
} from "../topology/index.js";
import { recordedRuntime, stateDirOf, withClusterLock } from "./cluster.js";
import { QUIET, type StepReporter } from "./driver.js";
import { loadFrom, type OpenCluster, openCluster, type Place } from "./index.js";
import { nodeOf } from "./kit/index.js";
import { type Progress, requireRunning, restartInPlace } from "./lifecycle.js";
import { installedPhpDirectives } from "./native/php-directives.js";
import { renderFor, writeRendered } from "./rendered.js";

/** What a topology change means for a created cluster. */
export interface ConfigPlan {
  /** Rendered files (relative to the render directory) the change creates or changes. */
  changedFiles: string[];
  /** Nodes the change needs restarted, in start order. */
  needs: string[];
  /** Set when the change reshapes the cluster (node set, balancer address, name): needs destroy + create. */
  reshaped: string | undefined;
}

function reshapedBy(before: Topology, after: Topology): string | undefined {
  const names = (t: Topology) =>
    clusterNodes(t)
      .map((n) => n.name)
      .join(",");
  if (names(before) !== names(after)) return "the number of app or memcached nodes";
  if (before.balancer.port !== after.balancer.port || before.balancer.bind !== after.balancer.bind) {
    return "the balancer's address (the native runtime derives every node's port from it)";
  }
  if (before.name !== after.name) return "the cluster name";
  return undefined;
}

/**
 * Render both topologies in memory for the cluster's runtime and say what the change touches:
 * the files that differ, and the nodes whose files differ (or, for memcached, whose memory size
 * changed). Pure.
 */
export function planConfigChange(
  before: Topology,
  after: Topology,
  target: { runtime: RuntimeName; renderDir: string; docroot: string },
): ConfigPlan {
  const old = new Map(renderFor(target, before, target.runtime).map((f) => [f.path, f.content]));
  const next = renderFor(target, after, target.runtime);
  const changedFiles = next.filter((f) => old.get(f.path) !== f.content).map((f) => f.path);
  const manifest = JSON.parse(next.find((f) => f.path === MANIFEST_PATH)?.content ?? "{}") as ClusterManifest;
  const needs = new Set<string>();
  for (const n of manifest.nodes ?? []) if (n.files.some((f) => changedFiles.includes(f))) needs.add(n.name);
  if (before.memcached.memory !== after.memcached.memory) {
    for (const n of clusterNodes(after)) if (n.role === "memcached") needs.add(n.name);
  }
  return {
    changedFiles,
    needs: clusterNodes(after)
      .map((n) => n.name)
      .filter((n) => needs.has(n)),
    reshaped: reshapedBy(before, after),
  };
}

export interface ConfigChange {
  key: string;
  from: unknown;
  to: unknown;
}

export interface ConfigSetResult {
  file: string;
  changes: ConfigChange[];
  /** Rendered files rewritten for the cluster (empty when no cluster was created). */
  rendered: { path: string; action: string }[];
  /** Nodes the change needs restarted (app nodes rolling, lb reloaded). */
  needs: string[];
  applied: boolean;
  warnings: TopologyIssue[];
}

export interface ConfigEditOptions extends Progress {
  node?: string | undefined;
  apply: boolean;
  timeoutMs?: number;
}

/** `KEY=VALUE` pairs of `config set` as edits (the value read as YAML: 8080 is a number). */
export function parsePairs(pairs: string[]): { key: string; value: unknown }[] {
  return pairs.map((pair) => {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw fail.usage(
        `"${pair}" is not KEY=VALUE`,
        "for example: phpcluster config set php.memory_limit=512M",
      );
    return { key: pair.slice(0, eq), value: parseValue(pair.slice(eq + 1)) };
  });
}

/**
 * `config set` / `config unset`: edit the topology text (comments kept), validate, and on a
 * created cluster re-render and (with apply) restart what the change needs. It holds the cluster
 * lock before it writes anything, and whenever it fails, for any reason, the topology file and
 * the rendered files are as they were (and nodes already restarted with the new config are
 * restarted with the old one).
 */
export async function editConfig(
  place: Place,
  edits: { key: string; value: unknown }[],
  opts: ConfigEditOptions,
): Promise<ConfigSetResult> {
  const loaded = await loadFrom(place);
  const before = loaded.topology;
  if (opts.node) nodeOf(before, opts.node, "app");
  const pathEdits: Edit[] = edits.map((e) => ({ path: configPath(e.key, opts.node), value: e.value }));
  const text = loaded.text;
  const next = editTopologyText(text, loaded.file, pathEdits); // validated: throws before anything is written
  const checked = checkTopologyText(next, loaded.file, {
    directives: await installedPhpDirectives(place.env),
  });
  const after = checked.topology as Topology;
  const result: ConfigSetResult = {
    file: loaded.file,
    changes: pathEdits.map((e, i) => ({
      key: edits[i]?.key ?? "",
      from: writtenValue(text, e.path) ?? null,
      to: e.value ?? null,
    })),
    rendered: [],
    needs: [],
    applied: false,
    warnings: checked.warnings,
  };
  const writeTopology = async (): Promise<AppliedWrites> => {
    const file = path.resolve(place.cwd, place.file);
    return applyWrites(await planWrites([{ path: path.basename(file), content: next }], path.dirname(file)));
  };

  const runtime = await recordedRuntime(stateDirOf(loaded));
  if (!runtime) {
    if (opts.apply) opts.reporter.warn("the cluster has not been created: nothing to apply");
    await writeTopology();
    return result;
  }
  const open = await openCluster(place, runtime);
  const plan = planConfigChange(before, after, {
    runtime,
    renderDir: open.cluster.renderDir,
    docroot: open.cluster.docroot,
  });
  if (plan.reshaped && opts.apply) {
    throw fail.notSupported(
      runtime,
      `--apply of a change to ${plan.reshaped}: run \`phpcluster destroy\`, then \`phpcluster create\` (nothing was changed)`,
    );
  }
  return withClusterLock(open.cluster.stateDir, "config", async () => {
    const topologyWrite = await writeTopology();
    if (plan.reshaped) {
      opts.reporter.warn(
        `this changes ${plan.reshaped}: apply it with \`phpcluster destroy\`, then \`phpcluster create\``,
      );
      return result;
    }
    const changed = withTopology(open, after);
    let rendered: Awaited<ReturnType<typeof writeRendered>> | undefined;
    const touched: string[] = [];
    try {
      rendered = await writeRendered(changed.cluster, runtime);
      result.rendered = rendered.plan
        .filter((p) => p.action !== "unchanged")
        .map((p) => ({ path: p.path, action: p.action }));
      result.needs = plan.needs;
      if (opts.apply && plan.needs.length > 0) {
        await requireRunning(changed.driver);
        await restartInPlace(changed.driver, plan.needs, {
          allAtOnce: false,
          timeoutMs: opts.timeoutMs ?? 60_000,
          reporter: opts.reporter,
          signal: opts.signal,
          touched,
        });
        result.applied = true;
      }
      return result;
    } catch (err) {
      await rollBack(open, {
        topologyWrite,
        rendered: rendered?.applied,
        restarted: touched,
        reporter: opts.reporter,
      });
      throw err;
    }
  });
}

/** The same cluster with another topology (its driver bound to it). */
function withTopology(open: OpenCluster, topology: Topology): OpenCluster {
  const cluster = { ...open.cluster, topology };
  const driver = open.rebind(cluster);
  return { ...open, cluster, driver };
}

async function rollBack(
  open: OpenCluster,
  done: {
    topologyWrite: AppliedWrites;
    rendered: AppliedWrites | undefined;
    restarted: string[];
    reporter: StepReporter;
  },
): Promise<void> {
  await done.rendered?.undo();
  await done.topologyWrite.undo();
  if (done.restarted.length === 0) return;
  await done.reporter
    .step(`roll back: restart ${done.restarted.join(", ")} with the previous config`, () =>
      restartInPlace(open.driver, done.restarted, { allAtOnce: false, timeoutMs: 60_000, reporter: QUIET }),
    )
    .catch((err: unknown) => done.reporter.warn(`the roll back did not finish: ${(err as Error).message}`));
}
