import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readProcStat } from "../../src/runtime/native/procfs.js";
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
    expect(bad.stderr).toMatch(
      /phpcluster\.yml:\d+:\d+ balancer\.port: expected a number from 1 to 65535, got 70000/,
    );
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

  it("-f names the file every config subcommand edits, wherever it is placed (not ./phpcluster.yml)", async () => {
    const w = await workspace("cfg-file");
    const here = readFileSync(w.file, "utf8");
    const otherDir = path.join(w.dir, "other");
    const other = writeCluster(otherDir, { name: "cfg-other", port: w.port });
    const inDir = (args: string[]) => runCli(args, { cwd: w.dir });
    const set = await inDir([
      "config",
      "set",
      "-f",
      "other/phpcluster.yml",
      "php.memory_limit=384M",
      "--json",
    ]);
    expect(set.exitCode, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({
      command: "config set",
      data: { file: "other/phpcluster.yml" },
    });
    expect(readFileSync(other, "utf8")).toMatch(/memory_limit: 384M/);
    expect(readFileSync(w.file, "utf8")).toBe(here); // the file in the working directory is untouched
    const get = await inDir(["config", "-f", "other/phpcluster.yml", "get", "php.memory_limit", "--json"]);
    expect(JSON.parse(get.stdout).data).toMatchObject({ value: "384M", source: "file" });
    const unset = await inDir(["-f", "other/phpcluster.yml", "config", "unset", "php.memory_limit"]);
    expect(unset.exitCode, unset.stderr).toBe(0);
    expect(readFileSync(other, "utf8")).not.toContain("memory_limit");
    const list = await runCli(["config", "list", "--json", "-f", "other/phpcluster.yml"], { cwd: w.dir });
    expect(JSON.parse(list.stdout).data.entries.find((e: { key: string }) => e.key === "name").value).toBe(
      "cfg-other",
    );
  });

  it("while another command holds the cluster lock, set --apply refuses and the file stays byte for byte", async () => {
    const w = await workspace("cfg-locked");
    const stateDir = path.join(w.dir, ".phpcluster", "cfg-locked");
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, "runtime"), "native\n"); // a created cluster, as far as config can tell
    // a live process (not this one) holds the lock, as a running `verify` would
    const holder = spawn("sleep", ["60"], { stdio: "ignore" });
    cleanups.push(() => holder.kill("SIGKILL"));
    const pid = holder.pid as number;
    const startTime = readProcStat(pid)?.startTime;
    writeFileSync(path.join(stateDir, "lock"), JSON.stringify({ pid, startTime, command: "verify" }));
    const before = snapshotTree(w.dir);
    const r = await w.cli(["config", "set", "php.memory_limit=320M", "--apply"]);
    expect(r.exitCode).toBe(8);
    expect(r.stderr).toMatch(/another phpcluster command \(verify, pid \d+\)/);
    expect(snapshotTree(w.dir)).toEqual(before); // the topology, and everything else, as it was
  });
});
