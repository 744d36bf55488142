import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";

/** The locally built base image the compose tests build FROM (`.ci/docker.sh` makes it). */
export const BASE_IMAGE = "phpcluster/base:bookworm";

/**
 * Is a Docker engine with the base image here? On a developer machine without one the compose
 * suites skip (with a warning); in CI a missing prerequisite is a failure.
 */
export function requireDocker(): boolean {
  const info = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], {
    encoding: "utf8",
    timeout: 15_000,
  });
  const why =
    info.status !== 0
      ? `the Docker engine does not answer (docker info: ${(info.stderr || String(info.error ?? "")).trim().split("\n")[0]})`
      : spawnSync("docker", ["image", "inspect", BASE_IMAGE], { timeout: 15_000 }).status !== 0
        ? `the base image ${BASE_IMAGE} is missing`
        : undefined;
  if (why === undefined) return true;
  if (process.env.CI) throw new Error(`${why}; the compose e2e tests need it in CI (run .ci/docker.sh)`);
  console.warn(`skipping the compose e2e tests: ${why} (run .ci/docker.sh as root to set it up)`);
  return false;
}

/**
 * A free loopback port below the kernel's ephemeral range: the balancer's port is checked when
 * `create` starts but bound only after the images are built, and a port in the ephemeral range can
 * be taken meanwhile by any outgoing connection on the machine.
 */
export async function freeStablePort(): Promise<number> {
  let low = 32768;
  try {
    low =
      Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {}
  const top = Math.max(20_100, Math.min(low, 65_536));
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * (top - 20_000));
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port found below the ephemeral range");
}
