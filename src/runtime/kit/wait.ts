import { EXIT, fail, isPhpclusterError, type PhpclusterError } from "../../errors.js";

/** An error that ends a wait at once: the node exited, Ctrl-C, or a usage or topology error. */
function isFinal(err: unknown): err is PhpclusterError {
  if (!isPhpclusterError(err)) return false;
  return (
    err.code === "NODE_EXITED" ||
    err.code === "CANCELLED" ||
    err.exitCode === EXIT.USAGE ||
    err.exitCode === EXIT.TOPOLOGY
  );
}

/** Throw CANCELLED when the command was interrupted (Ctrl-C). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw fail.cancelled("interrupted");
}

/** Sleep, cut short (with CANCELLED) by the signal. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(fail.cancelled("interrupted"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Poll `check` until it resolves true, bounded by timeoutMs (then TIMEOUT, with the last failure
 * in the message), and cut short by the signal (CANCELLED). An error thrown by `check` means "not
 * yet" (a refused connection, a Docker engine that hiccups), except the final ones: the node
 * exited (NODE_EXITED), Ctrl-C, a usage or topology error end the wait at once.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal | undefined },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = "";
  for (;;) {
    throwIfAborted(opts.signal);
    try {
      if (await check()) return;
    } catch (err) {
      if (isFinal(err)) throw err;
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) throw fail.timeout(what, opts.timeoutMs, last || undefined);
    await sleep(Math.min(opts.intervalMs ?? 50, Math.max(1, deadline - Date.now())), opts.signal);
  }
}
