import type { LoadedTopology, RuntimeChoice, RuntimeName } from "../topology/index.js";
import { clusterContext, recordedRuntime, stateDirOf } from "./cluster.js";
import { decideRuntime } from "./detect.js";
import type { ClusterContext, RuntimeDriver } from "./driver.js";
import { loadFrom, type Place } from "./place.js";

export type { ClusterContext, DriverFactory, NodeStatus, RuntimeDriver } from "./driver.js";

/** The driver factory of a runtime (loaded on first use: each driver pulls in its own code). */
export async function driverFactory(
  runtime: RuntimeName,
): Promise<(cluster: ClusterContext) => RuntimeDriver> {
  if (runtime === "native") {
    const { NativeDriver } = await import("./native/driver.js");
    return (cluster) => new NativeDriver(cluster);
  }
  if (runtime === "swarm") {
    const { SwarmDriver } = await import("./swarm/driver.js");
    return (cluster) => new SwarmDriver(cluster);
  }
  const { ComposeDriver } = await import("./compose/driver.js");
  return (cluster) => new ComposeDriver(cluster);
}

export { loadFrom, type Place } from "./place.js";

export interface OpenCluster {
  loaded: LoadedTopology;
  runtime: RuntimeName;
  /** When `auto` picked the runtime: why this one. */
  autoReason?: string;
  cluster: ClusterContext;
  driver: RuntimeDriver;
  /** A driver of the same runtime for another context of this cluster (a changed topology). */
  rebind(cluster: ClusterContext): RuntimeDriver;
}

/**
 * Load the topology and pick the runtime: --runtime wins, then the runtime that created the
 * cluster, then the topology's `runtime`; `auto` is compose when a Docker engine answers, else native.
 */
export async function openCluster(place: Place, runtimeFlag?: RuntimeChoice): Promise<OpenCluster> {
  const loaded = await loadFrom(place);
  const choice = runtimeFlag ?? (await recordedRuntime(stateDirOf(loaded))) ?? loaded.topology.runtime;
  const decision = await decideRuntime(choice, place.env, loaded.topology.images.base);
  const runtime = decision.runtime;
  const cluster = clusterContext(loaded, runtime, place.env);
  const injected = place.driverFor;
  const rebind = injected ? (c: ClusterContext) => injected(runtime, c) : await driverFactory(runtime);
  return {
    loaded,
    runtime,
    ...(choice === "auto" ? { autoReason: decision.reason } : {}),
    cluster,
    driver: rebind(cluster),
    rebind,
  };
}
