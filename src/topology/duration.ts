/** Durations in the topology are strings such as `500ms`, `2s`, `1m` or `1m30s`. */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const DURATION_RE = /^(?:\d+(?:ms|s|m|h))+$/;
const PART_RE = /(\d+)(ms|s|m|h)/g;

/** Milliseconds for a duration string, or `undefined` when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION_RE.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART_RE)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  return total;
}

/** The shortest exact nginx-style rendering of a duration: `1500ms`, `2s`, `1m`. */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
