import { randomBytes } from "node:crypto";
import { SESSION_KEY_PREFIX } from "../render/index.js";
import type { ClusterContext, RuntimeDriver, StepReporter } from "../runtime/driver.js";
import { appNodeNames, memcachedNodeNames } from "../topology/index.js";
import { SessionClient } from "./session-client.js";

export interface ScenarioContext {
  cluster: ClusterContext;
  driver: RuntimeDriver;
  secret: string;
  reporter: StepReporter;
  signal?: AbortSignal | undefined;
}

export function newClient(ctx: ScenarioContext): SessionClient {
  return new SessionClient(
    ctx.driver.balancerEndpoint(ctx.cluster),
    ctx.secret,
    ctx.cluster.topology.sessions.name,
  );
}

export function randomNonce(): string {
  return randomBytes(12).toString("hex");
}

export const appNodes = (ctx: ScenarioContext) => appNodeNames(ctx.cluster.topology);
export const cacheNodes = (ctx: ScenarioContext) => memcachedNodeNames(ctx.cluster.topology);

export const sessionKey = (sid: string) => `${SESSION_KEY_PREFIX}${sid}`;
export const lockKey = (sid: string) => `${SESSION_KEY_PREFIX}lock.${sid}`;

/** The Memcached nodes that hold a key, with its value there; dead nodes are skipped. */
export async function holders(ctx: ScenarioContext, key: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  for (const node of cacheNodes(ctx)) {
    try {
      const value = await ctx.driver.readStoreKey(ctx.cluster, node, key);
      if (value !== undefined) found[node] = value;
    } catch {}
  }
  return found;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Bring a node back (after a kill or stop) and wait until it is healthy; then reload the balancer,
 * which otherwise keeps the node out of rotation for up to fail_timeout after its failure.
 */
export async function restore(ctx: ScenarioContext, node: string): Promise<void> {
  await ctx.driver.startNode(ctx.cluster, node, { timeoutMs: 60_000 });
  await ctx.driver.reloadBalancer(ctx.cluster);
}
