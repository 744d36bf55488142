import { isPhpclusterError } from "../errors.js";
import type { Topology } from "../topology/index.js";
import type { ScenarioContext } from "./context.js";
import { type Timeline, TimelineRecorder } from "./timeline.js";

export interface Check {
  /** e.g. "kill-owner app1" */
  name: string;
  scenario: string;
  ok: boolean;
  detail: string;
  durationMs: number;
  data?: unknown;
  /** The check's requests and events, when it put load on the cluster (see `timed`'s `ctx`). */
  timeline?: Timeline;
}

export interface VerifyReport {
  cluster: string;
  runtime: string;
  ok: boolean;
  durationMs: number;
  checks: Check[];
  /** Where `--junit` wrote the JUnit XML (relative to the working directory when shorter). */
  junit?: string;
  /** Where `--report` wrote the HTML report (likewise). */
  html?: string;
  /** What the app nodes run, as their probe reports it: PHP, the web server, php-memcached, libmemcached, the memcached servers (values that differ between nodes are listed together). */
  versions?: Record<string, string>;
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
export function timed(
  scenario: string,
  name: string,
  work: () => Promise<{ ok: boolean; detail: string; data?: unknown }>,
): Promise<Check> {
  return run(scenario, name, work, undefined);
}

/**
 * `timed`, for a check that puts load on the cluster: it also records its timeline, every probe
 * its clients send and the events the scenario marks (kills, returns, restarts, drains).
 */
export function recorded(
  ctx: ScenarioContext,
  scenario: string,
  name: string,
  work: () => Promise<{ ok: boolean; detail: string; data?: unknown }>,
): Promise<Check> {
  return run(scenario, name, work, ctx);
}

async function run(
  scenario: string,
  name: string,
  work: () => Promise<{ ok: boolean; detail: string; data?: unknown }>,
  ctx: ScenarioContext | undefined,
): Promise<Check> {
  const t0 = performance.now();
  const recorder = ctx ? new TimelineRecorder() : undefined;
  const outer = ctx?.recording;
  if (ctx) ctx.recording = recorder;
  const withTimeline = (check: Check): Check =>
    recorder && recorder.size > 0 ? { ...check, timeline: recorder.toJSON() } : check;
  try {
    const r = await work();
    return withTimeline({ name, scenario, ...r, durationMs: Math.round(performance.now() - t0) });
  } catch (err) {
    if (isPhpclusterError(err, "CANCELLED")) throw err;
    return withTimeline({
      name,
      scenario,
      ok: false,
      detail: (err as Error).message,
      durationMs: Math.round(performance.now() - t0),
    });
  } finally {
    if (ctx) ctx.recording = outer;
  }
}
