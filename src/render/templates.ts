import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Liquid, type LiquidOptions } from "liquidjs";

/**
 * `templates/` at the package root. The same relative URL works from `src/render/` (vitest, tsx)
 * and from `dist/render/` (after `tsc -p tsconfig.build.json`).
 */
export const TEMPLATES_DIR = new URL("../../templates/", import.meta.url);

/**
 * A Liquid engine over `templates/`: strict (a missing variable or filter is an error), own
 * properties only; `{%-` trims up to one line break, never the blank lines the templates keep on
 * purpose. `extra` adds options (the HTML report escapes every output).
 */
export function templateEngine(extra: LiquidOptions = {}): Liquid {
  return new Liquid({
    root: fileURLToPath(TEMPLATES_DIR),
    extname: "",
    strictVariables: true,
    strictFilters: true,
    ownPropertyOnly: true,
    greedy: false,
    cache: true,
    ...extra,
  });
}

const engine = templateEngine();

/** Render `templates/<name>` with Liquid. Synchronous, so the render stage stays a pure function. */
export function renderTemplate(name: string, context: object): string {
  const text: unknown = engine.renderFileSync(name, context);
  if (typeof text !== "string") throw new Error(`template ${name} did not render to text`);
  return endWithNewline(text);
}

/** A file copied verbatim from `templates/` (the probe endpoints). */
export function readTemplate(name: string): string {
  return readFileSync(new URL(name, TEMPLATES_DIR), "utf8");
}

function endWithNewline(text: string): string {
  return `${text.replace(/[ \t]+$/gm, "").replace(/\n*$/, "")}\n`;
}
