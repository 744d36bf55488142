import { chmodSync } from "node:fs";
import path from "node:path";
import { describe, it } from "vitest";
import { tempDir } from "../helpers/cli.js";
import { writeCluster } from "../helpers/cluster.js";
import { BASE_IMAGE, freeStablePort, requireDocker } from "../helpers/docker.js";
import { driverContract } from "./contract.js";

const compose = (name: string, port: number) => ({
  name,
  port,
  extra: ["images:", `  base: ${BASE_IMAGE}`].join("\n"),
  runtime: "compose" as const,
});

if (requireDocker()) {
  driverContract("compose", async () => {
    const { dir, cleanup } = tempDir("phpcluster-contract-compose-");
    chmodSync(dir, 0o755); // Apache's workers (www-data) read the bind-mounted document root
    const port = await freeStablePort();
    const name = `contract-${process.pid.toString(36)}`;
    const file = writeCluster(dir, compose(name, port));
    const clashDir = path.join(dir, "clash");
    const clashing = { dir: clashDir, file: writeCluster(clashDir, compose(`${name}-b`, port)) };
    return { dir, file, port, clashing, cleanup };
  });
} else {
  describe.skip("the compose driver contract (no Docker engine here)", () => {
    it("needs a Docker engine and the base image", () => {});
  });
}
