import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/cli.js";
import { type FakeWorld, newWorld, runWithFake } from "../helpers/fake-driver.js";

/**
 * Command-level behaviour, in-process, on the fake driver: the order the lifecycle drives a
 * runtime in, rollback of a failed or interrupted create, drains around restarts, and config
 * changes that fail leaving every file as it was. (What a real runtime does is the contract
 * suite's and the e2e suites' business.)
 */
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const TOPOLOGY = `name: fake
runtime: native
balancer:
  port: 18080   # comment kept
app:
  replicas: 2
  ini:
    memory_limit: 256M
memcached:
  nodes: 1
`;

function project(text = TOPOLOGY): { dir: string; file: string } {
  const { dir, cleanup } = tempDir("phpcluster-fake-");
  cleanups.push(cleanup);
  mkdirSync(path.join(dir, "public"));
  writeFileSync(path.join(dir, "public", "index.php"), "<?php echo 1;\n");
  const file = path.join(dir, "phpcluster.yml");
  writeFileSync(file, text);
  return { dir, file };
}

async function created(world: FakeWorld = newWorld()) {
  const p = project();
  const r = await runWithFake(world, ["create", "--json"], { cwd: p.dir });
  expect(r.exitCode, r.stderr).toBe(0);
  world.calls.length = 0;
  return { ...p, world };
}

const rendered = (dir: string, file: string) =>
  readFileSync(path.join(dir, ".phpcluster", "fake", "native", file), "utf8");

describe("create", () => {
  it("starts memcached, the app nodes and the balancer in that order, each healthy before the next", async () => {
    const world = newWorld();
    const { dir } = project();
    const r = await runWithFake(world, ["create", "--json"], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(world.calls).toEqual([
      "preflight",
      "prepare",
      "start memcached1",
      "start app1",
      "start app2",
      "start lb",
    ]);
    expect(JSON.parse(r.stdout).data.nodes.map((n: { state: string }) => n.state)).toEqual(
      Array(4).fill("running"),
    );
  });

  it("a node that fails to start: the error names it with its log, and everything started is stopped", async () => {
    const world = newWorld();
    world.failOnStart.add("app2");
    const { dir } = project();
    const r = await runWithFake(world, ["create", "--json"], { cwd: dir });
    expect(r.exitCode).toBe(5);
    const error = JSON.parse(r.stdout).error;
    expect(error).toMatchObject({
      code: "NODE_START_FAILED",
      message: "app2 did not become healthy: exited with code 1",
    });
    expect(error.hint).toContain("app2 fake log line");
    expect(world.calls.slice(-2)).toEqual(["start app2", "down"]);
    expect([...world.nodes.values()].every((n) => n.state === "stopped")).toBe(true);
  });

  it("Ctrl-C while a node starts: everything started is stopped, exit 130", async () => {
    const world = newWorld();
    world.hangOnStart.add("app1");
    const abort = new AbortController();
    world.onStart = (node) => {
      if (node === "app1") setTimeout(() => abort.abort(), 50);
    };
    const { dir } = project();
    const r = await runWithFake(world, ["create"], { cwd: dir, signal: abort.signal });
    expect(r.exitCode).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    expect(world.calls).toEqual(["preflight", "prepare", "start memcached1", "start app1", "down"]);
    expect([...world.nodes.values()].every((n) => n.state === "stopped")).toBe(true);
  });

  it("on a running cluster refuses (exit 8) and changes nothing", async () => {
    const { dir, world } = await created();
    const r = await runWithFake(world, ["create", "--json"], { cwd: dir });
    expect(r.exitCode).toBe(8);
    expect(JSON.parse(r.stdout).error.code).toBe("CLUSTER_RUNNING");
    expect(world.calls).toEqual([]);
  });
});

describe("restart", () => {
  it("drains each app node from the balancer, restarts it, puts it back; then reloads the balancer", async () => {
    const { dir, world } = await created();
    const drained: string[] = [];
    world.onStart = (node) => {
      if (node.startsWith("app"))
        drained.push(
          rendered(dir, "nginx/nginx.conf")
            .match(/server \S+ .*down;/g)
            ?.join() ?? "",
        );
    };
    const r = await runWithFake(world, ["restart"], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(world.calls).toEqual([
      "reload lb",
      "stop app1",
      "start app1",
      "reload lb",
      "reload lb",
      "stop app2",
      "start app2",
      "reload lb",
      "reload lb",
    ]);
    // while an app node restarted, it (and only it) was marked down in the balancer
    expect(drained[0]).toMatch(/down/);
    expect(drained[0]).not.toBe(drained[1]);
    expect(rendered(dir, "nginx/nginx.conf")).not.toMatch(/ down;/);
  });

  it("an unknown node is a usage error, before anything happens", async () => {
    const { dir, world } = await created();
    const r = await runWithFake(world, ["restart", "app9", "--json"], { cwd: dir });
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: "UNKNOWN_NODE",
      message: "there is no node app9",
    });
    expect(world.calls).toEqual([]);
  });

  it("Ctrl-C during a restart: the node is started again and put back into the balancer, exit 130", async () => {
    const { dir, world } = await created();
    const abort = new AbortController();
    world.hangOnStart.add("app1");
    world.onStart = (node) => {
      if (node === "app1" && world.hangOnStart.has("app1")) {
        setTimeout(() => {
          world.hangOnStart.delete("app1");
          abort.abort();
        }, 30);
      }
    };
    const r = await runWithFake(world, ["restart"], { cwd: dir, signal: abort.signal });
    expect(r.exitCode).toBe(130);
    expect(world.nodes.get("app1")?.state).toBe("running");
    expect(world.calls).not.toContain("stop app2");
    expect(world.calls.at(-1)).toBe("reload lb");
    expect(rendered(dir, "nginx/nginx.conf")).not.toMatch(/ down;/);
  });
});

describe("config set --apply", () => {
  it("when a restart fails: the topology and the rendered files are byte for byte as before, and restarted nodes get the old config back", async () => {
    const { dir, file, world } = await created();
    const before = readFileSync(file, "utf8");
    const iniBefore = rendered(dir, "app1/php.ini");
    world.failOnStart.add("app2");
    const r = await runWithFake(world, ["config", "set", "php.memory_limit=384M", "--apply", "--json"], {
      cwd: dir,
    });
    expect(r.exitCode).toBe(5);
    expect(JSON.parse(r.stdout).error.code).toBe("NODE_START_FAILED");
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(rendered(dir, "app1/php.ini")).toBe(iniBefore);
    // app1 had been restarted with 384M: the roll back restarts it again with the old config
    expect(world.calls.filter((c) => c === "start app1")).toHaveLength(2);
  });

  it("changes only the value, and restarts exactly the app nodes (not memcached, not lb)", async () => {
    const { dir, file, world } = await created();
    const r = await runWithFake(world, ["config", "set", "php.memory_limit=384M", "--apply", "--json"], {
      cwd: dir,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).data).toMatchObject({ needs: ["app1", "app2"], applied: true });
    expect(readFileSync(file, "utf8")).toBe(TOPOLOGY.replace("256M", "384M"));
    expect(world.calls.filter((c) => c.startsWith("stop"))).toEqual(["stop app1", "stop app2"]);
    expect(rendered(dir, "app2/php.ini")).toMatch(/memory_limit = "?384M/);
  });
});

describe("commands run in the directory of their context, not the process's", () => {
  it("validate, render and config read -f relative to the context's directory", async () => {
    const { dir } = project();
    const world = newWorld();
    expect(path.resolve(".")).not.toBe(dir);
    const v = await runWithFake(world, ["validate", "--json"], { cwd: dir });
    expect(v.exitCode, v.stderr).toBe(0);
    const r = await runWithFake(world, ["render", "--json", "--runtime", "native"], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).data.outDir).toBe(path.join(".phpcluster", "fake", "native"));
    expect(rendered(dir, "nginx/nginx.conf")).toMatch(/upstream/);
    const g = await runWithFake(world, ["config", "get", "balancer.port", "--json"], { cwd: dir });
    expect(JSON.parse(g.stdout).data).toEqual({ key: "balancer.port", value: 18080, source: "file" });
  });
});
