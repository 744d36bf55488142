import { isPhpclusterError } from "../errors.js";
import type { Topology } from "../topology/index.js";
import type { ScenarioContext } from "./context.js";

export interface Check {
  /** e.g. "kill-owner app1" */
  name: string;
  scenario: string;
  ok: boolean;
  detail: string;
  durationMs: number;
  data?: unknown;
}

export interface VerifyReport {
  cluster: string;
  runtime: string;
  ok: boolean;
  durationMs: number;
  checks: Check[];
  /** Where `--junit` wrote the JUnit XML (relative to the working directory when shorter). */
  junit?: string;
}

/** The scenario names (a contract: tests and CI pipelines outside the project use them). */
export type ScenarioName =
  | "health"
  | "effective-config"
  | "session-store"
  | "kill-owner"
  | "kill-mid-request"
  | "memcached-node-loss"
  | "memcached-restart"
  | "rolling-restart"
  | "host-drain";

/** One scenario of `verify`: registered in one list (registry.ts). */
export interface Scenario {
  name: ScenarioName;
  /** Reads only: it still runs when the health check failed (the others kill or restart nodes). */
  readOnly: boolean;
  run(ctx: ScenarioContext): Promise<Check[]>;
  /** Part of the default run for this topology (default: always). */
  byDefault?(topology: Topology): boolean;
}

/** Time a check; an exception becomes a failed check with its message (an interruption does not). */
export async function timed(
  scenario: string,
  name: string,
  work: () => Promise<{ ok: boolean; detail: string; data?: unknown }>,
): Promise<Check> {
  const t0 = performance.now();
  try {
    const r = await work();
    return { name, scenario, ...r, durationMs: Math.round(performance.now() - t0) };
  } catch (err) {
    if (isPhpclusterError(err, "CANCELLED")) throw err;
    return {
      name,
      scenario,
      ok: false,
      detail: (err as Error).message,
      durationMs: Math.round(performance.now() - t0),
    };
  }
}
