import path from "node:path";
import { type LoadedTopology, loadTopology } from "../topology/index.js";
import type { DriverFactory } from "./driver.js";

/** Where a command runs: its directory, environment and -f, and (in tests) another driver factory. */
export interface Place {
  cwd: string;
  env: NodeJS.ProcessEnv;
  file: string;
  driverFor?: DriverFactory | undefined;
}

/** Load the topology named by -f (relative to the command's directory). */
export function loadFrom(place: Pick<Place, "cwd" | "file">): Promise<LoadedTopology> {
  return loadTopology(path.resolve(place.cwd, place.file), place.file);
}
