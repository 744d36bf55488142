import path from "node:path";
import {
  type LoadedTopology,
  loadTopology,
  type RuntimeChoice,
  type RuntimeName,
} from "../topology/index.js";
import { clusterContext, recordedRuntime, stateDirOf } from "./cluster.js";
import { ComposeDriver } from "./compose/driver.js";
import { resolveRuntime } from "./detect.js";
import type { ClusterContext, RuntimeDriver } from "./driver.js";
import { NativeDriver } from "./native/driver.js";

export type { ClusterContext, NodeStatus, RuntimeDriver } from "./driver.js";

export function driverFor(runtime: RuntimeName): RuntimeDriver {
  if (runtime === "native") return new NativeDriver();
  return new ComposeDriver();
}

export interface OpenCluster {
  loaded: LoadedTopology;
  runtime: RuntimeName;
  cluster: ClusterContext;
  driver: RuntimeDriver;
}

/**
 * Load the topology and pick the runtime: --runtime wins, then the runtime that created the
 * cluster, then the topology's `runtime`; `auto` is compose when a Docker engine answers, else native.
 */
export async function openCluster(
  file: string,
  cwd: string,
  runtimeFlag?: RuntimeChoice,
): Promise<OpenCluster> {
  const loaded = await loadTopology(path.resolve(cwd, file));
  loaded.file = file;
  const runtime = await resolveRuntime(
    runtimeFlag ?? (await recordedRuntime(stateDirOf(loaded))) ?? loaded.topology.runtime,
  );
  return { loaded, runtime, cluster: clusterContext(loaded, runtime), driver: driverFor(runtime) };
}
