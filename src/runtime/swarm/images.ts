/**
 * The swarm runtime's images: built on the engine the Docker CLI points at (the manager), from the
 * same Dockerfiles as compose, plus the site image (the app image with the document root in it),
 * tagged by content (the image id) and pushed to images.registry, so that every host pulls the
 * same bytes.
 */
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fail } from "../../errors.js";
import { dockerfilePath, SITE_DOCKERFILE_PATH } from "../../render/index.js";
import type { Topology } from "../../topology/index.js";
import { lastLines, throwIfAborted } from "../kit/index.js";
import { run } from "./engine.js";

export const SWARM_BUILD_LOG = "swarm-build.log";
const BUILD_TIMEOUT_MS = 20 * 60_000;
const PUSH_TIMEOUT_MS = 10 * 60_000;

export interface SwarmImages {
  app: string;
  lb: string;
  memcached: string;
}

/** `<registry>/phpcluster-<cluster>-<role>:<12 hex of the image id>`, or without the registry on a one-host swarm. */
export function imageRef(t: Topology, role: string, id: string): string {
  const repo = `phpcluster-${t.name}-${role}`;
  const hex = id.replace(/^sha256:/, "").slice(0, 12);
  return `${t.images.registry ? `${t.images.registry}/` : ""}${repo}:${hex}`;
}

interface BuildContext {
  env: NodeJS.ProcessEnv;
  topology: Topology;
  renderDir: string;
  stateDir: string;
  docroot: string;
  signal?: AbortSignal | undefined;
}

async function appendLog(file: string, text: string): Promise<void> {
  await writeFile(file, text, { flag: "a" });
}

async function build(ctx: BuildContext, what: string, args: string[], log: string): Promise<string> {
  const r = await run(ctx.env, ["build", "-q", ...args], {
    timeoutMs: BUILD_TIMEOUT_MS,
    signal: ctx.signal,
  });
  await appendLog(log, `$ docker build ${args.join(" ")}\n${r.all}\n`);
  throwIfAborted(ctx.signal);
  const id = r.stdout.trim().split("\n").pop() ?? "";
  if (r.exitCode === 0 && /^sha256:[0-9a-f]{64}$/.test(id)) return id;
  const tail = lastLines(await readFile(log, "utf8").catch(() => r.all), 15);
  throw fail.runtime("IMAGE_BUILD_FAILED", `building the ${what} image failed`, {
    hint: `last lines of ${log}:\n${tail.join("\n")}`,
    details: { log: tail },
  });
}

/**
 * The document root, copied for the site image's build context: never phpcluster's state folder
 * (the probe secret is in it) when the document root holds the topology file's directory.
 */
async function siteContext(ctx: BuildContext): Promise<string> {
  const dir = path.join(ctx.stateDir, "swarm-site");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const stateRoot = path.dirname(ctx.stateDir);
  await cp(ctx.docroot, dir, {
    recursive: true,
    filter: (src) => {
      const abs = path.resolve(src);
      return abs !== stateRoot && !abs.startsWith(`${stateRoot}${path.sep}`);
    },
  });
  return dir;
}

/** Build the images, tag them by content, push them when the topology names a registry. */
export async function buildSwarmImages(ctx: BuildContext): Promise<SwarmImages> {
  const t = ctx.topology;
  const log = path.join(ctx.stateDir, SWARM_BUILD_LOG);
  await writeFile(log, "");
  const env = { ...ctx.env, DOCKER_BUILDKIT: "0" };
  const b = { ...ctx, env };
  const context = (role: "app" | "lb" | "memcached") =>
    path.dirname(path.join(ctx.renderDir, dockerfilePath(role)));
  const ids = {
    app: await build(b, "app", [context("app")], log),
    lb: await build(b, "lb", [context("lb")], log),
    memcached: await build(b, "memcached", [context("memcached")], log),
  };
  const site = await siteContext(ctx);
  let siteId: string;
  try {
    siteId = await build(
      b,
      "site (app + document root)",
      ["--build-arg", `APP_IMAGE=${ids.app}`, "-f", path.join(ctx.renderDir, SITE_DOCKERFILE_PATH), site],
      log,
    );
  } finally {
    await rm(site, { recursive: true, force: true });
  }
  const refs: SwarmImages = {
    app: imageRef(t, "app", siteId),
    lb: imageRef(t, "lb", ids.lb),
    memcached: imageRef(t, "memcached", ids.memcached),
  };
  const byRef: [string, string][] = [
    [refs.app, siteId],
    [refs.lb, ids.lb],
    [refs.memcached, ids.memcached],
  ];
  for (const [ref, id] of byRef) {
    const tag = await run(env, ["tag", id, ref], { timeoutMs: 30_000 });
    if (tag.exitCode !== 0) {
      throw fail.runtime("IMAGE_BUILD_FAILED", `tagging ${ref} failed`, {
        hint: (tag.stderr || tag.shortMessage).trim() || undefined,
      });
    }
  }
  if (t.images.registry) {
    for (const [ref] of byRef) {
      const push = await run(env, ["push", ref], { timeoutMs: PUSH_TIMEOUT_MS, signal: ctx.signal });
      await appendLog(log, `$ docker push ${ref}\n${push.all}\n`);
      throwIfAborted(ctx.signal);
      if (push.exitCode !== 0) {
        throw fail.runtime(
          "IMAGE_BUILD_FAILED",
          `pushing ${ref} to images.registry (${t.images.registry}) failed`,
          {
            hint: `${lastLines(push.all, 5).join("\n")}\nimages.registry must be a registry every swarm host can pull from (an insecure one must be in each engine's insecure-registries)`,
          },
        );
      }
    }
  }
  return refs;
}
