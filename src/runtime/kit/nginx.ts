import { fail, isPhpclusterError } from "../../errors.js";
import type { RuntimeDriver } from "../driver.js";
import { startHealthy } from "./health.js";
import { logTail } from "./logs.js";
import { waitUntil } from "./wait.js";

const RELOAD_TIMEOUT_MS = 15_000;

/**
 * Check the balancer's rendered config, then reload it gracefully; a rejected config never stops
 * the running balancer. The reload is done only when no worker of the old generation accepts
 * connections any more: until then, new requests may still be routed by the old config (to a node
 * being drained, say). Drivers differ only in how they list the workers.
 */
/** `nginx -v`'s answer (`nginx version: nginx/1.22.1`) as `nginx/1.22.1`; undefined when it is not one. */
export function parseNginxVersion(text: string): string | undefined {
  return /nginx version: (\S+)/.exec(text)?.[1];
}

export async function reloadBalancer(
  driver: RuntimeDriver,
  opts: { signal?: AbortSignal | undefined } = {},
): Promise<void> {
  const lb = (await driver.inspect({ nodes: ["lb"] })).lb;
  if (!lb || lb.state === "stopped") {
    // nothing to reload: start it (nginx checks its config as it starts)
    await startHealthy(driver, "lb", { timeoutMs: 30_000, signal: opts.signal });
    return;
  }
  const rejected = await driver.testBalancerConfig();
  if (rejected !== undefined) throw fail.balancerConfigRejected(rejected);
  const accepting = async () => (await driver.balancerWorkers()).filter((w) => w.accepting).map((w) => w.pid);
  const old = new Set(await accepting());
  await driver.signalBalancerReload();
  try {
    await waitUntil(
      "the nginx reload",
      async () => {
        const now = await accepting();
        if (now.length === 0 || now.some((pid) => old.has(pid))) return false;
        return (await driver.inspect({ nodes: ["lb"] })).lb?.state === "running";
      },
      { timeoutMs: RELOAD_TIMEOUT_MS, intervalMs: Math.min(driver.pollMs, 100) },
    );
  } catch (err) {
    if (isPhpclusterError(err, "TIMEOUT")) {
      throw fail.balancerReloadFailed(err.message, await logTail(driver, "lb"));
    }
    throw err;
  }
}
