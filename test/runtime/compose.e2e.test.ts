import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { openCluster } from "../../src/runtime/index.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { CookieSession, readSecretOf } from "../helpers/cluster.js";
import { BASE_IMAGE, freeStablePort, requireDocker } from "../helpers/docker.js";

/**
 * End-to-end on the compose runtime: a real Docker engine, images built from a local base image,
 * real containers, one of them SIGKILLed. Needs `docker info` to answer and the base image
 * (`.ci/docker.sh` provides both). Missing prerequisites skip these tests on a developer machine
 * and fail them in CI.
 */
/** `docker compose` or `docker-compose`, whichever answers. */
function composeCommand(): string[] {
  for (const cmd of [["docker", "compose"], ["docker-compose"]]) {
    const [bin, ...sub] = cmd as [string, ...string[]];
    if (spawnSync(bin, [...sub, "version", "--short"], { timeout: 15_000 }).status === 0) return cmd;
  }
  throw new Error("neither `docker compose` nor `docker-compose` is installed");
}

const ready = requireDocker();

interface Made {
  name: string;
  dir: string;
  file: string;
  stateDir: string;
  composeFile: string;
  port: number;
  cleanup: () => void;
}
const made: Made[] = [];

async function makeCluster(): Promise<Made> {
  const name = `e2e-${process.pid.toString(36)}-${Date.now().toString(36).slice(-5)}`;
  const { dir, cleanup } = tempDir(`phpcluster-compose-${name}-`);
  chmodSync(dir, 0o755); // Apache's workers (www-data) read the bind-mounted document root
  mkdirSync(path.join(dir, "public"));
  writeFileSync(
    path.join(dir, "public", "index.php"),
    "<?php session_start(); $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1; header('Content-Type: application/json');\n" +
      "echo json_encode(['node' => getenv('PHPCLUSTER_NODE'), 'n' => $_SESSION['n'], 'sid' => session_id()]);\n",
  );
  const port = await freeStablePort();
  const file = path.join(dir, "phpcluster.yml");
  writeFileSync(
    file,
    [
      `name: ${name}`,
      "runtime: compose",
      "balancer:",
      `  port: ${port}`,
      "  bind: 127.0.0.1",
      "app:",
      "  replicas: 2",
      "  root: ./public",
      "sessions:",
      "  lockExpire: 2s",
      "memcached:",
      "  nodes: 1",
      "images:",
      `  base: ${BASE_IMAGE}`,
      "",
    ].join("\n"),
  );
  const stateDir = path.join(dir, ".phpcluster", name);
  const m = {
    name,
    dir,
    file,
    stateDir,
    composeFile: path.join(stateDir, "compose", "docker-compose.yml"),
    port,
    cleanup,
  };
  made.push(m);
  return m;
}

function cli(m: Made, args: string[], timeout = 120_000) {
  return runCli([...args, "-f", m.file], { cwd: m.dir, timeout });
}

async function projectContainers(name: string): Promise<string[]> {
  const r = await execa(
    "docker",
    ["ps", "-a", "-q", "--filter", `label=com.docker.compose.project=${name}`],
    { reject: false, timeout: 30_000 },
  );
  return r.stdout.split("\n").filter(Boolean);
}

/** Compose itself, as a user would run it against the rendered project. */
function compose(m: Made, args: string[]) {
  const [bin, ...sub] = composeCommand() as [string, ...string[]];
  return execa(bin, [...sub, "-p", m.name, "-f", m.composeFile, ...args], {
    reject: false,
    timeout: 60_000,
    stdin: "ignore",
    env: { PHPCLUSTER_PROBE_SECRET: existsSync(m.stateDir) ? readSecretOf(m.stateDir) : "x" },
  });
}

afterAll(async () => {
  for (const m of made) {
    if ((await projectContainers(m.name)).length > 0) {
      if (existsSync(m.composeFile)) await compose(m, ["down", "-v", "-t", "2"]);
      const left = await projectContainers(m.name);
      if (left.length > 0) await execa("docker", ["rm", "-f", "-v", ...left], { reject: false });
    }
    const nets = await execa(
      "docker",
      ["network", "ls", "-q", "--filter", `label=com.docker.compose.project=${m.name}`],
      { reject: false },
    );
    const ids = nets.stdout.split("\n").filter(Boolean);
    if (ids.length > 0) await execa("docker", ["network", "rm", ...ids], { reject: false });
    // the images are named after the cluster, whose name is unique to this run: nothing reuses them
    const images = ["app", "lb", "memcached"].map((role) => `phpcluster-${m.name}-${role}:local`);
    await execa("docker", ["image", "rm", ...images], { reject: false });
    m.cleanup();
  }
}, 180_000);

interface Node {
  name: string;
  state: string;
  address: string;
  pid?: number;
  detail?: string;
}

async function statusOf(m: Made): Promise<Node[]> {
  const r = await cli(m, ["status", "--json"]);
  const data = JSON.parse(r.stdout).data;
  expect(r.exitCode, r.stderr).toBe(data.running ? 0 : 9); // 9: degraded
  return data.nodes as Node[];
}

describe.skipIf(!ready)("compose runtime lifecycle (real Docker engine)", () => {
  it(
    "create → session → SIGKILL the serving app node → failover keeps the session → restart → destroy leaves nothing",
    async () => {
      const m = await makeCluster();
      const t0 = Date.now();
      const created = await cli(m, ["create", "--json", "--timeout", "3m"], 900_000);
      const createMs = Date.now() - t0;
      expect(created.exitCode, `${created.stdout}\n${created.stderr}`).toBe(0);
      const data = JSON.parse(created.stdout).data;
      expect(data.runtime).toBe("compose");
      expect(data.url).toBe(`http://127.0.0.1:${m.port}/`);
      expect(data.nodes.map((n: Node) => `${n.name}:${n.state}`)).toEqual([
        "memcached1:running",
        "app1:running",
        "app2:running",
        "lb:running",
      ]);
      const byName = Object.fromEntries((data.nodes as Node[]).map((n) => [n.name, n]));
      expect(byName.memcached1?.address).toMatch(/^10\.\d+\.\d+\.11:11211$/);
      expect(byName.app1?.address).toMatch(/^10\.\d+\.\d+\.101:80$/);
      expect(byName.lb?.address).toBe(`127.0.0.1:${m.port}`);
      console.info(`compose create took ${(createMs / 1000).toFixed(1)} s`);

      // a session through the balancer
      const s = new CookieSession(m.port);
      expect(JSON.parse((await s.get("/")).body).n).toBe(1);
      const second = JSON.parse((await s.get("/")).body) as { node: string; n: number; sid: string };
      expect(second.n).toBe(2);
      const served = second.node;
      const other = served === "app1" ? "app2" : "app1";

      // reads inside the internal network, through the driver
      const { driver } = await openCluster({ cwd: m.dir, env: process.env, file: m.file });
      const key = `memc.sess.key.${second.sid}`;
      const read = await driver.readStoreKeys({
        node: "memcached1",
        keys: [key, "memc.sess.key.nosuchsession"],
      });
      expect(Object.keys(read)).toEqual([key]);
      expect(read[key]).toContain("n|i:2;");
      const health = await driver.httpGetNode({ node: other, path: "/.phpcluster/health.php", headers: {} });
      expect(health.status).toBe(200);
      expect(health.headers["x-served-by"]).toBe(other);

      // SIGKILL the node that served the session, with Compose itself
      const killed = await compose(m, ["kill", "-s", "SIGKILL", served]);
      expect(killed.exitCode, killed.stderr).toBe(0);

      // the next request goes to the other node, and the session goes on
      const third = JSON.parse((await s.get("/")).body);
      expect(third).toMatchObject({ node: other, n: 3, sid: second.sid });

      const afterKill = await statusOf(m);
      expect(afterKill.find((n) => n.name === served)).toMatchObject({
        state: "stopped",
        detail: "exited (137)",
      });
      expect(afterKill.filter((n) => n.name !== served).every((n) => n.state === "running")).toBe(true);

      const restarted = await cli(m, ["restart", served], 300_000);
      expect(restarted.exitCode, `${restarted.stdout}\n${restarted.stderr}`).toBe(0);
      const afterRestart = await statusOf(m);
      expect(afterRestart.map((n) => `${n.name}:${n.state}`)).toEqual([
        "memcached1:running",
        "app1:running",
        "app2:running",
        "lb:running",
      ]);
      expect(afterRestart.find((n) => n.name === served)?.pid).toBeGreaterThan(0);
      expect(JSON.parse((await s.get("/")).body)).toMatchObject({ n: 4, sid: second.sid });

      // the whole proof, through the same driver interface as native
      const tv = Date.now();
      const verified = await cli(m, ["verify", "--json"], 600_000);
      const report = JSON.parse(verified.stdout);
      const checks = (report.data?.checks ?? report.error?.details?.report?.checks ?? []) as {
        name: string;
        ok: boolean;
      }[];
      expect(
        checks.filter((c) => !c.ok),
        verified.stdout,
      ).toEqual([]);
      expect(checks.map((c) => c.name)).toContain("kill-mid-request");
      expect(verified.exitCode).toBe(0);
      console.info(`compose verify took ${((Date.now() - tv) / 1000).toFixed(1)} s`);

      const t1 = Date.now();
      const destroyed = await cli(m, ["destroy"], 180_000);
      console.info(`compose destroy took ${((Date.now() - t1) / 1000).toFixed(1)} s`);
      expect(destroyed.exitCode, destroyed.stderr).toBe(0);
      expect(await projectContainers(m.name)).toEqual([]);
      expect(existsSync(m.stateDir)).toBe(false);
      expect(existsSync(path.join(m.dir, "public", "index.php"))).toBe(true); // user files untouched

      // the images create built stay (the next create is faster), and destroy says so with their size
      const refs = ["memcached", "app", "lb"].map((role) => `phpcluster-${m.name}-${role}:local`);
      const imageThere = async (ref: string) =>
        (await execa("docker", ["image", "inspect", ref], { reject: false, timeout: 30_000 })).exitCode === 0;
      for (const ref of refs) expect(await imageThere(ref), ref).toBe(true);
      expect(destroyed.stdout).toMatch(
        new RegExp(`images kept: .*phpcluster-${m.name}-app:local.*\\(\\d+ MB`),
      );
      expect(destroyed.stdout).toMatch(/phpcluster destroy --images removes them/);
      // --images removes them, even once the cluster itself is gone
      const images = await cli(m, ["destroy", "--images", "--json"], 180_000);
      expect(images.exitCode, images.stderr).toBe(0);
      const doc = JSON.parse(images.stdout).data;
      expect(doc.destroyed).toBe(false);
      expect([...doc.images.removed].sort()).toEqual([...refs].sort());
      expect(doc.images.bytes).toBeGreaterThan(0);
      expect(doc.images.elsewhere).toEqual([]);
      for (const ref of refs) expect(await imageThere(ref), ref).toBe(false);
    },
    20 * 60_000,
  );
});

describe.skipIf(!ready)("runtime auto on a real Docker engine: what runs end to end, and why", () => {
  const doctorOn = async (base: string) => {
    const { dir, cleanup } = tempDir("phpcluster-auto-");
    try {
      mkdirSync(path.join(dir, "public"));
      writeFileSync(path.join(dir, "phpcluster.yml"), `name: auto\nimages:\n  base: ${base}\n`);
      const r = await runCli(["doctor", "--json"], { cwd: dir });
      return JSON.parse(r.stdout);
    } finally {
      cleanup();
    }
  };

  it("compose when the engine answers and the base image is on it", async () => {
    const doc = await doctorOn(BASE_IMAGE);
    const report = doc.ok ? doc.data : doc.error.details;
    expect(report.auto).toBe("compose");
    expect(report.autoReason).toBe(`the Docker engine answers and the base image ${BASE_IMAGE} is on it`);
  });

  it("native (installed here) when the base image is neither on the engine nor pullable", async () => {
    const absent = `phpcluster/absent-${process.pid}:none`;
    const doc = await doctorOn(absent);
    const report = doc.ok ? doc.data : doc.error.details;
    expect(report.auto).toBe("native");
    expect(report.autoReason).toMatch(
      new RegExp(`base image ${absent} is not on the Docker engine and cannot be pulled`),
    );
  });
});
