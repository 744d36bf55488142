/**
 * Building the cluster's images with Compose: one build per image (the app nodes share one image,
 * as do the Memcached nodes), the whole output in `<stateDir>/compose-build.log`, bounded on its
 * own (a first build runs apt-get in three images: far longer than any start-up).
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fail } from "../../errors.js";
import { clusterNodes, type Topology } from "../../topology/index.js";
import { lastLines, throwIfAborted } from "../kit/index.js";
import { type ComposeProject, compose, composeArgs, docker } from "./exec.js";

export const BUILD_LOG = "compose-build.log";
export const BUILD_TIMEOUT_MS = 20 * 60_000;
const LOG_TAIL = 15;

/** The services to build: the first node of each role, since nodes of one role share their image. */
export function buildServices(t: Topology): string[] {
  const nodes = clusterNodes(t);
  return (["memcached", "app", "balancer"] as const)
    .map((role) => nodes.find((n) => n.role === role)?.name)
    .filter((n): n is string => n !== undefined);
}

/** Does a failed build say that an image could not be pulled? */
export function looksLikePullFailure(output: string): boolean {
  return /pull access denied|repository does not exist|manifest (for .* )?(not found|unknown)|no such host|registry-1\.docker\.io|failed to resolve|dial tcp|TLS handshake timeout|i\/o timeout|not found: manifest/i.test(
    output,
  );
}

/** Build every image of the cluster; when it fails, say why with the last lines of the build log. */
export async function buildImages(
  project: ComposeProject,
  opts: { topology: Topology; stateDir: string; signal?: AbortSignal | undefined },
): Promise<void> {
  const base = opts.topology.images.base;
  const baseWasThere =
    (await docker(project.env, ["image", "inspect", "--format", "{{.Id}}", base], { signal: opts.signal }))
      .exitCode === 0;
  throwIfAborted(opts.signal);
  const logFile = path.join(opts.stateDir, BUILD_LOG);
  try {
    await writeFile(logFile, "");
  } catch (err) {
    throw fail.file(`cannot write ${logFile}: ${(err as Error).message}`, err);
  }
  const r = await compose(project, composeArgs.build(project.cli, buildServices(opts.topology)), {
    timeoutMs: BUILD_TIMEOUT_MS,
    signal: opts.signal,
    logFile,
  });
  throwIfAborted(opts.signal);
  if (r.exitCode === 0) return;
  const log = await readFile(logFile, "utf8").catch(() => "");
  const tail = lastLines(log, LOG_TAIL);
  if (!baseWasThere && looksLikePullFailure(log)) {
    throw fail.runtimeUnavailable(
      `the base image ${base} (images.base) is not available: it is not on this Docker engine and could not be pulled`,
      `images.base names the image every node's Dockerfile is built FROM; it must exist locally (\`docker image ls\`) or be pullable from a registry. Build or load it, or set images.base to an image that exists. Last lines of ${logFile}:\n${tail.slice(-3).join("\n")}`,
      { image: base, log: tail },
    );
  }
  const lines = tail.length > 0 ? tail : [r.shortMessage];
  throw fail.runtime(
    "IMAGE_BUILD_FAILED",
    r.timedOut
      ? `building the images took longer than ${BUILD_TIMEOUT_MS / 60_000} min`
      : "building the images failed",
    { hint: `last lines of ${logFile}:\n${lines.join("\n")}`, details: { log: tail } },
  );
}
