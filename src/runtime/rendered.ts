import path from "node:path";
import { type AppliedWrites, applyWrites, type PlannedWrite, planWrites } from "../files/write.js";
import { type RenderedFile, renderCluster } from "../render/index.js";
import type { RuntimeName, Topology } from "../topology/index.js";
import type { ClusterContext } from "./driver.js";

/** app.root as seen from a render directory (posix), for the Compose bind mount. */
export function rootFrom(renderDir: string, docroot: string): string {
  return path.relative(renderDir, docroot).split(path.sep).join("/") || ".";
}

/** Every file of the cluster for its runtime, in memory. */
export function renderFor(
  cluster: Pick<ClusterContext, "renderDir" | "docroot">,
  topology: Topology,
  runtime: RuntimeName,
  drained: string[] = [],
): RenderedFile[] {
  return renderCluster(topology, {
    target: runtime,
    rootFromOut: rootFrom(cluster.renderDir, cluster.docroot),
    drained,
  });
}

export interface WrittenRender {
  plan: PlannedWrite[];
  applied: AppliedWrites;
}

/** Render the cluster's files for its runtime into its render directory (one transaction). */
export async function writeRendered(
  cluster: ClusterContext,
  runtime: RuntimeName,
  drained: string[] = [],
  topology: Topology = cluster.topology,
): Promise<WrittenRender> {
  const plan = await planWrites(renderFor(cluster, topology, runtime, drained), cluster.renderDir);
  return { plan, applied: await applyWrites(plan) };
}
