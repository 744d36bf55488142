import type { Reporter } from "./output/index.js";
import type { Place } from "./runtime/index.js";

/**
 * What every command receives: where it runs (directory, environment, -f), where to report, and
 * the abort signal. Core code takes these from here, never from `process`, so commands run
 * in-process in any directory (tests do).
 */
export interface Context extends Place {
  /** The command's name as the JSON envelope gives it: `validate`, `config set`. */
  command: string;
  reporter: Reporter;
  debug: boolean;
  /** Aborted on the first Ctrl-C (SIGINT) or SIGTERM: long operations stop what they started. */
  signal: AbortSignal;
}
