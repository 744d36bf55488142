import path from "node:path";
import { shownPath } from "../files/paths.js";
import { type LoadedTopology, loadTopology } from "../topology/index.js";
import type { DriverFactory } from "./driver.js";
import { installedPhpDirectives } from "./native/php-directives.js";

/** Where a command runs: its directory, environment and -f, and (in tests) another driver factory. */
export interface Place {
  cwd: string;
  env: NodeJS.ProcessEnv;
  file: string;
  driverFor?: DriverFactory | undefined;
}

/**
 * Load the topology named by -f (relative to the command's directory); messages name it by
 * shownPath (relative only when shorter than absolute). With `directives`, app.ini
 * keys are checked against what the installed PHP reports too (validate, config set).
 */
export async function loadFrom(
  place: Pick<Place, "cwd" | "file"> & Partial<Pick<Place, "env">>,
  opts: { directives?: boolean } = {},
): Promise<LoadedTopology> {
  const directives = opts.directives ? await installedPhpDirectives(place.env ?? {}) : undefined;
  const file = path.resolve(place.cwd, place.file);
  return loadTopology(file, shownPath(place.cwd, file), { directives });
}
