import path from "node:path";
import {
  type LoadedTopology,
  loadTopology,
  type RuntimeChoice,
  type RuntimeName,
} from "../topology/index.js";
import { clusterContext, recordedRuntime, stateDirOf } from "./cluster.js";
import { resolveRuntime } from "./detect.js";
import type { ClusterContext, DriverFactory, RuntimeDriver } from "./driver.js";

export type { ClusterContext, DriverFactory, NodeStatus, RuntimeDriver } from "./driver.js";

/** The driver factory of a runtime (loaded on first use: each driver pulls in its own code). */
export async function driverFactory(
  runtime: RuntimeName,
): Promise<(cluster: ClusterContext) => RuntimeDriver> {
  if (runtime === "native") {
    const { NativeDriver } = await import("./native/driver.js");
    return (cluster) => new NativeDriver(cluster);
  }
  const { ComposeDriver } = await import("./compose/driver.js");
  return (cluster) => new ComposeDriver(cluster);
}

/** Where a command runs: its directory, environment and -f, and (in tests) another driver factory. */
export interface Place {
  cwd: string;
  env: NodeJS.ProcessEnv;
  file: string;
  driverFor?: DriverFactory | undefined;
}

export interface OpenCluster {
  loaded: LoadedTopology;
  runtime: RuntimeName;
  cluster: ClusterContext;
  driver: RuntimeDriver;
  /** A driver of the same runtime for another context of this cluster (a changed topology). */
  rebind(cluster: ClusterContext): RuntimeDriver;
}

/** Load the topology named by -f (relative to the command's directory). */
export function loadFrom(place: Pick<Place, "cwd" | "file">): Promise<LoadedTopology> {
  return loadTopology(path.resolve(place.cwd, place.file), place.file);
}

/**
 * Load the topology and pick the runtime: --runtime wins, then the runtime that created the
 * cluster, then the topology's `runtime`; `auto` is compose when a Docker engine answers, else native.
 */
export async function openCluster(place: Place, runtimeFlag?: RuntimeChoice): Promise<OpenCluster> {
  const loaded = await loadFrom(place);
  const runtime = await resolveRuntime(
    runtimeFlag ?? (await recordedRuntime(stateDirOf(loaded))) ?? loaded.topology.runtime,
    place.env,
  );
  const cluster = clusterContext(loaded, runtime, place.env);
  const injected = place.driverFor;
  const rebind = injected ? (c: ClusterContext) => injected(runtime, c) : await driverFactory(runtime);
  return { loaded, runtime, cluster, driver: rebind(cluster), rebind };
}
