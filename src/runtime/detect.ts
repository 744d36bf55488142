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

/** `auto` is compose when a Docker engine answers, else native; an explicit choice wins. */
export async function resolveRuntime(
  choice: RuntimeChoice,
  env: NodeJS.ProcessEnv,
  probe = probeDocker,
): Promise<RuntimeName> {
  if (choice !== "auto") return choice;
  return (await probe(env)).answers ? "compose" : "native";
}
