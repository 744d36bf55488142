import { createStyle } from "./colors.js";
import { InteractiveReporter } from "./interactive-reporter.js";
import { JsonReporter } from "./json-reporter.js";
import type { Reporter } from "./reporter.js";
import { PlainReporter, type Streams } from "./text-reporter.js";

export type { Problem, Reporter, ReporterMode } from "./reporter.js";
export type { HumanFormatter, Style } from "./style.js";
export { DEFAULT_WIDTH, outputWidth, PLAIN_STYLE } from "./style.js";

export interface ReporterChoice {
  json: boolean;
  color: boolean;
  env: NodeJS.ProcessEnv;
  streams: Streams;
  isTTY: boolean;
}

/** Pick the one reporter for this run: JSON, interactive (TTY, not CI) or plain. */
export function selectReporter({ json, color, env, streams, isTTY }: ReporterChoice): Reporter {
  if (json) return new JsonReporter(streams);
  const noColor = !color || (env.NO_COLOR !== undefined && env.NO_COLOR !== "") || env.TERM === "dumb";
  const ci = env.CI !== undefined && env.CI !== "" && env.CI !== "false";
  if (isTTY && !ci) return new InteractiveReporter(streams, createStyle(!noColor));
  return new PlainReporter(streams, createStyle(!noColor && isTTY));
}
export { type TableOptions, table } from "./table.js";
