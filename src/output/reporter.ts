import type { PhpclusterError } from "../errors.js";
import type { HumanFormatter } from "./style.js";

export type ReporterMode = "interactive" | "plain" | "json";

export interface Problem {
  code: string;
  message: string;
  hint?: string | undefined;
  details?: unknown;
}

/**
 * Where core code and commands send progress and results. Progress, warnings and errors go to
 * stderr; the result goes to stdout (exactly one JSON document in JSON mode).
 */
export interface Reporter {
  readonly mode: ReporterMode;
  /** Run one step of work under a spinner (interactive) or a start/end line (plain). */
  step<T>(title: string, work: () => Promise<T>): Promise<T>;
  info(message: string): void;
  warn(message: string): void;
  /** Human-readable data printed before a failure (e.g. the table of a failed verify); JSON mode skips it. */
  detail<T>(data: T, human: HumanFormatter<T>): void;
  /** One line of a stream that is the command's output as it comes (`logs --follow`); not in JSON mode. */
  line(text: string): void;
  /** The command's result. */
  result<T>(command: string, data: T, human: HumanFormatter<T>): void;
  /** The command failed with a known or unknown error. */
  failure(command: string, error: PhpclusterError | Error, debug: boolean): void;
}
