import { chmodSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli, snapshotTree, tempDir } from "../helpers/cli.js";
import { freePortBlock, get, readSecretOf, writeCluster } from "../helpers/cluster.js";
import { requireBinary } from "../helpers/validators.js";

for (const bin of ["nginx", "apache2", "memcached"]) requireBinary(bin);

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups) c();
});

async function workspace(name: string) {
  const { dir, cleanup } = tempDir(`phpcluster-config-${name}-`);
  chmodSync(dir, 0o755);
  const port = await freePortBlock(4);
  const file = writeCluster(dir, { name, port });
  const cli = (args: string[]) => runCli([...args, "-f", file], { cwd: dir, timeout: 120_000 });
  cleanups.push(() => {
    cleanup();
  });
  return { dir, file, port, cli };
}

describe("phpcluster config", () => {
  it("get, set, unset and list edit the file, and a bad value changes nothing", async () => {
    const w = await workspace("cfg-edit");
    expect(JSON.parse((await w.cli(["config", "get", "balancer.strategy", "--json"])).stdout).data).toEqual({
      key: "balancer.strategy",
      value: "sticky",
      source: "default",
    });
    const set = await w.cli([
      "config",
      "set",
      "php.memory_limit=384M",
      "balancer.strategy=round-robin",
      "--json",
    ]);
    expect(set.exitCode, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout).data.changes).toEqual([
      { key: "php.memory_limit", from: null, to: "384M" },
      { key: "balancer.strategy", from: null, to: "round-robin" },
    ]);
    expect(readFileSync(w.file, "utf8")).toMatch(/memory_limit: 384M/);
    expect((await w.cli(["validate"])).exitCode).toBe(0);

    const before = snapshotTree(w.dir);
    const bad = await w.cli(["config", "set", "balancer.port=70000"]);
    expect(bad.exitCode).toBe(3);
    expect(bad.stderr).toMatch(/phpcluster\.yml:\d+:\d+ balancer\.port: port 70000 is out of range/);
    const unknown = await w.cli(["config", "set", "balancer.prot=8080"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('did you mean "balancer.port"?');
    expect(snapshotTree(w.dir)).toEqual(before);

    expect((await w.cli(["config", "unset", "php.memory_limit"])).exitCode).toBe(0);
    expect(readFileSync(w.file, "utf8")).not.toContain("memory_limit");
    const list = JSON.parse((await w.cli(["config", "list", "--json"])).stdout).data.entries as {
      key: string;
      source: string;
    }[];
    expect(list.find((e) => e.key === "balancer.strategy")?.source).toBe("file");
    expect(list.find((e) => e.key === "sessions.lifetime")?.source).toBe("default");
  });

  it("set --apply on a running cluster restarts the app nodes, and PHP sees the new value", async () => {
    const w = await workspace("cfg-apply");
    expect((await w.cli(["create", "--runtime", "native"])).exitCode).toBe(0);
    try {
      const r = await w.cli([
        "config",
        "set",
        "php.memory_limit=200M",
        "--node",
        "app2",
        "--apply",
        "--json",
      ]);
      expect(r.exitCode, r.stderr).toBe(0);
      const data = JSON.parse(r.stdout).data;
      expect(data.rendered.map((f: { path: string }) => f.path)).toEqual(["app2/php.ini"]);
      expect(data.needs).toEqual(["app2"]);
      expect(data.applied).toBe(true);
      const secret = readSecretOf(path.join(w.dir, ".phpcluster", "cfg-apply"));
      const memoryLimit = async (port: number) =>
        JSON.parse(
          (
            await get(port, "/.phpcluster/probe.php?action=ini&keys=memory_limit", {
              "X-Phpcluster-Secret": secret,
            })
          ).body,
        ).requested.memory_limit;
      expect(await memoryLimit(w.port + 2)).toBe("200M"); // app2, restarted with its override
      expect(await memoryLimit(w.port + 1)).toBe("128M"); // app1 keeps PHP's default
      // changing the number of nodes cannot be applied in place
      const grow = await w.cli(["config", "set", "app.replicas=3", "--apply"]);
      expect(grow.exitCode).toBe(7);
      expect(grow.stderr).toContain("destroy");
      expect(readFileSync(w.file, "utf8")).toMatch(/replicas: 2/); // nothing was changed
    } finally {
      await w.cli(["destroy"]);
    }
  });
});
