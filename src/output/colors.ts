import { Chalk } from "chalk";
import { PLAIN_STYLE, type Style } from "./style.js";

/** The only chalk import. NO_COLOR and --no-color give plain text (chalk alone ignores NO_COLOR). */
export function createStyle(color: boolean): Style {
  if (!color) return PLAIN_STYLE;
  const chalk = new Chalk({ level: 1 });
  return {
    ok: (t) => chalk.green(t),
    warn: (t) => chalk.yellow(t),
    err: (t) => chalk.red(t),
    dim: (t) => chalk.dim(t),
    bold: (t) => chalk.bold(t),
    path: (t) => chalk.cyan(t),
  };
}
