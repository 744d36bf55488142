import type { Topology } from "../topology/index.js";
import { effectiveConfig } from "./effective-config.js";
import { health } from "./health.js";
import { hostDrain } from "./host-drain.js";
import { killMidRequest } from "./kill-mid-request.js";
import { killOwner } from "./kill-owner.js";
import { memcachedNodeLoss, memcachedRestart } from "./memcached-node-loss.js";
import type { Scenario, ScenarioName } from "./report.js";
import { rollingRestart } from "./rolling-restart.js";
import { sessionStore } from "./session-store.js";

export type { Scenario, ScenarioName } from "./report.js";

/** Every scenario of `verify`, in the order they run. */
export const SCENARIO_LIST: readonly Scenario[] = [
  health,
  effectiveConfig,
  sessionStore,
  killOwner,
  killMidRequest,
  memcachedNodeLoss,
  memcachedRestart,
  rollingRestart,
  hostDrain,
];

export const SCENARIOS: readonly ScenarioName[] = SCENARIO_LIST.map((s) => s.name);

export function scenarioNamed(name: ScenarioName): Scenario {
  const s = SCENARIO_LIST.find((x) => x.name === name);
  if (!s) throw new Error(`no scenario ${name}`);
  return s;
}

/** The default run for a topology: every scenario whose `byDefault` holds. */
export function defaultScenarios(t: Topology): ScenarioName[] {
  return SCENARIO_LIST.filter((s) => s.byDefault?.(t) ?? true).map((s) => s.name);
}
