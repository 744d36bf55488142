import type { Reporter } from "./output/index.js";

/** What every command receives: where to report, where it runs, and the environment. */
export interface Context {
  reporter: Reporter;
  cwd: string;
  env: NodeJS.ProcessEnv;
  debug: boolean;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: long operations stop what they started. */
  signal: AbortSignal;
}
