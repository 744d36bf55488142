import type { RuntimeChoice, RuntimeName } from "../topology/index.js";

export interface DockerProbe {
  answers: boolean;
  serverVersion?: string;
  error?: string;
}

/** Does a Docker engine answer? Bounded: a hung daemon counts as "no". */
export async function probeDocker(env: NodeJS.ProcessEnv, timeoutMs = 5000): Promise<DockerProbe> {
  const { execa } = await import("execa"); // only `auto` and doctor ask the engine
  const result = await execa("docker", ["version", "--format", "{{.Server.Version}}"], {
    reject: false,
    timeout: timeoutMs,
    env: { ...env, NO_COLOR: "1" },
    extendEnv: false,
    stdin: "ignore",
    cleanup: false,
  });
  if (result.exitCode === 0 && result.stdout.trim())
    return { answers: true, serverVersion: result.stdout.trim() };
  return { answers: false, error: (result.stderr || result.shortMessage || "").trim().split("\n")[0] };
}

/** What `auto` sees here: each question it asks, answered. */
export interface AutoProbe {
  engine: DockerProbe;
  /** Is images.base on the engine (or, when not, can the engine's registry give it)? */
  baseImage: { present: boolean; pullable: boolean | undefined } | undefined;
  /** Are nginx, Apache+mod_php and memcached (with php-memcached) installed for the native runtime? */
  native: boolean;
}

export interface RuntimeDecision {
  runtime: RuntimeName;
  /** Why: "the Docker engine answers and the base image debian:trixie-slim is on it". */
  reason: string;
}

/** Is an image on the engine; when not, does its registry know it (bounded: no network is "no")? */
export async function probeImage(
  env: NodeJS.ProcessEnv,
  image: string,
  timeoutMs = 8000,
): Promise<{ present: boolean; pullable: boolean | undefined }> {
  const { execa } = await import("execa");
  const options = {
    reject: false,
    timeout: timeoutMs,
    env: { ...env, NO_COLOR: "1" },
    extendEnv: false,
    stdin: "ignore" as const,
    cleanup: false,
  };
  const inspect = await execa("docker", ["image", "inspect", "--format", "{{.Id}}", image], options);
  if (inspect.exitCode === 0) return { present: true, pullable: undefined };
  const manifest = await execa("docker", ["manifest", "inspect", image], options);
  return { present: false, pullable: manifest.exitCode === 0 };
}

async function probeAuto(env: NodeJS.ProcessEnv, baseImage: string): Promise<AutoProbe> {
  const [engine, native] = await Promise.all([
    probeDocker(env),
    import("./native/binaries.js").then(
      async (m) => (await m.checkNativeBinaries(env)).binaries !== undefined,
    ),
  ]);
  return { engine, native, baseImage: engine.answers ? await probeImage(env, baseImage) : undefined };
}

/**
 * `auto` prefers what can run the topology end to end here: compose when a Docker engine answers
 * and the base image is on it (or its registry has it); else native when its programs are
 * installed; else compose on an engine that answers (its build says what is missing), else
 * native (its prerequisites say what to install). Pure.
 */
export function decideAuto(probe: AutoProbe, baseImage: string): RuntimeDecision {
  const { engine, native } = probe;
  const image = probe.baseImage;
  if (engine.answers && image?.present)
    return {
      runtime: "compose",
      reason: `the Docker engine answers and the base image ${baseImage} is on it`,
    };
  if (engine.answers && image?.pullable)
    return {
      runtime: "compose",
      reason: `the Docker engine answers and can pull the base image ${baseImage}`,
    };
  if (native) {
    return {
      runtime: "native",
      reason: engine.answers
        ? `the base image ${baseImage} is not on the Docker engine and cannot be pulled; nginx, Apache+mod_php and memcached are installed`
        : "no Docker engine answers; nginx, Apache+mod_php and memcached are installed",
    };
  }
  if (engine.answers) {
    return {
      runtime: "compose",
      reason: `the Docker engine answers (the base image ${baseImage} is not on it and cannot be pulled, and the native runtime's programs are not installed either)`,
    };
  }
  return {
    runtime: "native",
    reason:
      "no Docker engine answers and the native runtime's programs are not installed (phpcluster doctor says which)",
  };
}

/** An explicit choice wins; `auto` is decided by what runs here (decideAuto). */
export async function decideRuntime(
  choice: RuntimeChoice,
  env: NodeJS.ProcessEnv,
  baseImage: string,
  probe: (env: NodeJS.ProcessEnv, baseImage: string) => Promise<AutoProbe> = probeAuto,
): Promise<RuntimeDecision> {
  if (choice !== "auto") return { runtime: choice, reason: "asked for" };
  return decideAuto(await probe(env, baseImage), baseImage);
}

export async function resolveRuntime(
  choice: RuntimeChoice,
  env: NodeJS.ProcessEnv,
  baseImage: string,
): Promise<RuntimeName> {
  return (await decideRuntime(choice, env, baseImage)).runtime;
}
