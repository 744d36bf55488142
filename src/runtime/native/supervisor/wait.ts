/** Bounded waiting, shared by the supervisor, its client and the cleanup of recorded groups. */

export const POLL_MS = 20;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `cond` every `intervalMs` until it holds (true) or `timeoutMs` passes (false). */
export async function waitUntil(
  cond: () => boolean,
  timeoutMs: number,
  intervalMs = POLL_MS,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
