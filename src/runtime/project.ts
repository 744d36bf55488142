import path from "node:path";
import { fail } from "../errors.js";
import { shownPath } from "../files/paths.js";
import { applyWrites, planWrites, type WriteAction } from "../files/write.js";
import { nameFromDirectory, renderInitFiles, SCHEMA_FILE } from "../render/init.js";
import {
  CLUSTER_NAME_RE,
  type RuntimeChoice,
  type RuntimeName,
  type TopologyIssue,
} from "../topology/index.js";
import { ensureStateRoot, stateDirOf } from "./cluster.js";
import { resolveRuntime } from "./detect.js";
import { loadFrom, type Place } from "./index.js";
import { portIsFree } from "./kit/ports.js";
import { renderFor } from "./rendered.js";

/** Project-level operations that need no running cluster: `init` and `render`. */

export interface RenderProjectResult {
  runtime: RuntimeName;
  outDir: string;
  dryRun: boolean;
  files: { path: string; action: WriteAction }[];
  warnings: TopologyIssue[];
}

/** `phpcluster render`: every file for a runtime into `--out` (default: the cluster's render directory). */
export async function renderProject(
  place: Place,
  opts: { runtime?: RuntimeChoice | undefined; out?: string | undefined; dryRun: boolean },
): Promise<RenderProjectResult> {
  const loaded = await loadFrom(place);
  const t = loaded.topology;
  const runtime = await resolveRuntime(opts.runtime ?? t.runtime, place.env, t.images.base);
  const outDir = opts.out ? path.resolve(place.cwd, opts.out) : path.join(stateDirOf(loaded), runtime);
  const docroot = path.resolve(loaded.dir, t.app.root);
  const plan = await planWrites(renderFor({ renderDir: outDir, docroot }, t, runtime), outDir);
  if (!opts.dryRun) {
    if (!opts.out) await ensureStateRoot(loaded.dir);
    await applyWrites(plan);
  }
  return {
    runtime,
    outDir: shownPath(place.cwd, outDir),
    dryRun: opts.dryRun,
    files: plan.map((p) => ({ path: p.path, action: p.action })),
    warnings: loaded.warnings,
  };
}

export interface InitResult {
  name: string;
  /** The balancer port written: 8080 unless that (or a port the native nodes use beside it) is taken. */
  port: number;
  /** Set when 8080 was taken and another port was picked. */
  portNote?: string;
  files: { path: string; action: WriteAction }[];
}

/** `phpcluster init`: the topology file named by -f and public/index.php beside it; never overwrites without force. */
export async function initProject(
  place: Place,
  opts: { name?: string | undefined; force: boolean },
): Promise<InitResult> {
  const file = path.resolve(place.cwd, place.file);
  const dir = path.dirname(file);
  const name = opts.name ?? nameFromDirectory(dir);
  if (!CLUSTER_NAME_RE.test(name)) throw fail.usage(`--name "${name}" must match [a-z][a-z0-9-]{0,30}`);
  const schema = path.relative(dir, SCHEMA_FILE).split(path.sep).join("/");
  const port = await freeBalancerPort();
  const plan = await planWrites(renderInitFiles(path.basename(file), name, schema, port), dir);
  const existing = plan.filter((p) => p.action !== "created");
  if (existing.length > 0 && !opts.force) {
    throw fail.runtime(
      "INIT_EXISTS",
      `${existing.map((p) => shownPath(place.cwd, p.absolute)).join(" and ")} already exist${existing.length === 1 ? "s" : ""}`,
      { hint: "nothing was written; use --force to overwrite" },
    );
  }
  await applyWrites(plan);
  return {
    name,
    port,
    ...(port === DEFAULT_PORT
      ? {}
      : { portNote: `port ${DEFAULT_PORT} is in use here, so the balancer gets ${port}` }),
    files: plan.map((p) => ({ path: shownPath(place.cwd, p.absolute), action: p.action })),
  };
}

const DEFAULT_PORT = 8080;
/** The balancer and the native nodes beside it (app1, app2, memcached1 of the file init writes). */
const INIT_PORTS = 4;

/**
 * 8080 unless it, or a port the native runtime puts the file's nodes on (the next three), is in
 * use on loopback; then 8090, 8100, … up to 8990. A second project on the same machine does not
 * clash with a first one that is running.
 */
async function freeBalancerPort(): Promise<number> {
  for (let base = DEFAULT_PORT; base < 9000; base += 10) {
    let free = true;
    for (let p = base; p < base + INIT_PORTS && free; p++) free = await portIsFree("127.0.0.1", p);
    if (free) return base;
  }
  return DEFAULT_PORT;
}
