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
}

/** Time a check; an exception becomes a failed check with its message. */
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
    return {
      name,
      scenario,
      ok: false,
      detail: (err as Error).message,
      durationMs: Math.round(performance.now() - t0),
    };
  }
}
