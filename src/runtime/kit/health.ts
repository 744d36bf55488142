import { fail, isPhpclusterError } from "../../errors.js";
import type { RuntimeDriver } from "../driver.js";
import { logTail } from "./logs.js";
import { waitUntil } from "./wait.js";

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** Wait until a node reads `running` (healthy); when it exits or times out, say so with its last log lines. */
export async function waitHealthy(driver: RuntimeDriver, node: string, opts: WaitOptions): Promise<void> {
  try {
    await waitUntil(
      `${node} healthy`,
      async () => {
        const r = (await driver.inspect({ nodes: [node] }))[node];
        if (r?.state === "running") return true;
        if (r?.failed) throw fail.nodeExited(node, r.detail ?? r.state);
        throw new Error(r?.detail ?? "not started");
      },
      { timeoutMs: opts.timeoutMs, signal: opts.signal, intervalMs: driver.pollMs },
    );
  } catch (err) {
    if (isPhpclusterError(err, "NODE_EXITED") || isPhpclusterError(err, "TIMEOUT")) {
      const why =
        err.code === "TIMEOUT"
          ? `${node} did not become healthy within ${opts.timeoutMs / 1000} s${lastOf(err.message)}`
          : `${node} did not become healthy: ${err.message}`;
      throw fail.nodeNotHealthy(node, why, await logTail(driver, node), `\`phpcluster logs ${node}\``);
    }
    throw err;
  }
}

const lastOf = (message: string) => {
  const m = / \(last error: (.*)\)$/.exec(message);
  return m ? ` (last error: ${m[1]})` : "";
};

/** Start one node and wait until it is healthy. */
export async function startHealthy(driver: RuntimeDriver, node: string, opts: WaitOptions): Promise<void> {
  await driver.startNode({ node, signal: opts.signal });
  await waitHealthy(driver, node, opts);
}
