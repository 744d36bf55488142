import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runCli, tempDir } from "../helpers/cli.js";
import { readSecretOf } from "../helpers/cluster.js";
import { BASE_IMAGE, freeStablePort, requireDocker } from "../helpers/docker.js";
import { expectNoLoss, settle, TestLoad } from "../helpers/session-load.js";

/**
 * A Memcached node that returns loses no session and no update (compose runtime): a real Docker
 * engine, each memcached container running phpcluster's launcher, its memory on the host's tmpfs.
 * Containers are killed from the host (Docker brings them back by itself), killed with Compose and
 * brought back by `restart`, restarted gracefully, and frozen, under the tests' own
 * read-modify-write load of 1,000 sessions of ~1 KB.
 */
const ready = requireDocker();
const NODES = ["memcached1", "memcached2"];

function composeCommand(): string[] {
  for (const cmd of [["docker", "compose"], ["docker-compose"]]) {
    const [bin, ...sub] = cmd as [string, ...string[]];
    if (spawnSync(bin, [...sub, "version", "--short"], { timeout: 15_000 }).status === 0) return cmd;
  }
  throw new Error("neither `docker compose` nor `docker-compose` is installed");
}

interface LauncherStatus {
  state: string;
  pid: number;
  items: number;
  since: string;
  recoveries: number;
  lastRecovery?: { reason: string; copied: number; cold: boolean; awayMs: number };
}

const name = `mcr-${process.pid.toString(36)}-${Date.now().toString(36).slice(-4)}`;
let dir: string;
let file: string;
let stateDir: string;
let cleanup: (() => void) | undefined;
let load: TestLoad;

const cli = (args: string[], timeout = 300_000) => runCli([...args, "-f", file], { cwd: dir, timeout });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The launcher's status, on the host: the memory folder is bind-mounted from /dev/shm. */
const launcherStatus = (node: string): LauncherStatus =>
  JSON.parse(readFileSync(`/dev/shm/phpcluster/compose-${name}/${node}/status.json`, "utf8"));

function compose(args: string[]) {
  const [bin, ...sub] = composeCommand() as [string, ...string[]];
  return execa(
    bin,
    [...sub, "-p", name, "-f", path.join(stateDir, "compose", "docker-compose.yml"), ...args],
    {
      reject: false,
      timeout: 60_000,
      stdin: "ignore",
      env: { PHPCLUSTER_PROBE_SECRET: readSecretOf(stateDir) },
    },
  );
}

async function containerOf(node: string): Promise<string> {
  const r = await execa("docker", [
    "ps",
    "-q",
    "--filter",
    `label=com.docker.compose.project=${name}`,
    "--filter",
    `label=com.docker.compose.service=${node}`,
  ]);
  const id = r.stdout.trim();
  if (!id) throw new Error(`no running container for ${node}`);
  return id;
}

async function inspect(id: string, format: string): Promise<string> {
  return (await execa("docker", ["inspect", "-f", format, id])).stdout.trim();
}

async function waitUntil(what: string, ok: () => boolean | Promise<boolean>, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await ok()) return;
    } catch {}
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(200);
  }
}

/**
 * Under the load, each memcached node in turn taken away for 3 s and let back (`away` returns how
 * to let it back); it must then be refilled from its peer. Returns each node's last recovery reason.
 */
async function eachNodeAwayAndBack(away: (id: string, node: string) => Promise<() => Promise<unknown>>) {
  const reasons: (string | undefined)[] = [];
  load.start();
  for (const node of NODES) {
    await sleep(1000);
    const id = await containerOf(node);
    const before = launcherStatus(node);
    const back = await away(id, node);
    await sleep(3000);
    await back();
    await waitUntil(`${node} refilled`, () => {
      const s = launcherStatus(node);
      return s.recoveries > before.recoveries && s.state === "serving";
    });
    reasons.push(launcherStatus(node).lastRecovery?.reason);
  }
  await sleep(1000);
  return reasons;
}

beforeAll(async () => {
  if (!ready) return;
  ({ dir, cleanup } = tempDir(`phpcluster-compose-${name}-`));
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, "public"));
  writeFileSync(path.join(dir, "public", "index.php"), "<?php echo 'ok';\n");
  const port = await freeStablePort();
  file = path.join(dir, "phpcluster.yml");
  writeFileSync(
    file,
    [
      `name: ${name}`,
      "runtime: compose",
      "balancer:",
      `  port: ${port}`,
      "app:",
      "  replicas: 2",
      "  root: ./public",
      "sessions:",
      "  lockExpire: 2s",
      "  replicas: 1",
      "memcached:",
      "  nodes: 2",
      "images:",
      `  base: ${BASE_IMAGE}`,
      "",
    ].join("\n"),
  );
  stateDir = path.join(dir, ".phpcluster", name);
  const created = await runCli(["create", "--timeout", "5m", "-f", file], { cwd: dir, timeout: 900_000 });
  expect(created.exitCode, `${created.stdout}\n${created.stderr}`).toBe(0);
  load = new TestLoad(port, readSecretOf(stateDir));
  await load.open();
}, 960_000);

afterEach(async () => {
  await load?.stop();
});

afterAll(async () => {
  if (!ready) return;
  await load?.stop();
  if (stateDir && existsSync(stateDir)) {
    const r = await cli(["destroy"], 180_000);
    expect(r.exitCode, r.stderr).toBe(0);
  }
  // destroy removes the restartable memory on the host
  expect(existsSync(`/dev/shm/phpcluster/compose-${name}`)).toBe(false);
  const left = await execa("docker", [
    "ps",
    "-a",
    "-q",
    "--filter",
    `label=com.docker.compose.project=${name}`,
  ]);
  if (left.stdout.trim()) await execa("docker", ["rm", "-f", "-v", ...left.stdout.trim().split("\n")]);
  await execa(
    "docker",
    ["image", "rm", ...["app", "lb", "memcached"].map((r) => `phpcluster-${name}-${r}:local`)],
    { reject: false },
  );
  cleanup?.();
}, 300_000);

describe.skipIf(!ready)("a memcached node that returns (compose, real Docker engine)", () => {
  it("status shows each node's items; the memory file lives on the host's tmpfs", async () => {
    const r = await cli(["status", "--json"]);
    const nodes = JSON.parse(r.stdout).data.nodes as { name: string; items?: number; warming?: boolean }[];
    for (const node of NODES) {
      const n = nodes.find((x) => x.name === node);
      expect(n?.warming).toBe(false);
      expect(n?.items).toBeGreaterThanOrEqual(1000);
      expect(launcherStatus(node).state).toBe("serving");
      expect(existsSync(`/dev/shm/phpcluster/compose-${name}/${node}/memory`)).toBe(true);
    }
  });

  it("the container's PID 1 killed from the host: Docker restarts it, and it fills itself from its peer before it serves", async () => {
    load.start();
    for (const node of NODES) {
      await sleep(1000);
      const id = await containerOf(node);
      const restarts = Number(await inspect(id, "{{.RestartCount}}"));
      const before = launcherStatus(node);
      process.kill(Number(await inspect(id, "{{.State.Pid}}")), "SIGKILL");
      await waitUntil(`${node} restarted by Docker and serving`, async () => {
        const s = launcherStatus(node);
        return (
          Number(await inspect(id, "{{.RestartCount}}")) > restarts &&
          s.since !== before.since &&
          s.state === "serving"
        );
      });
      expect(launcherStatus(node).lastRecovery?.copied).toBeGreaterThanOrEqual(1000);
    }
    await sleep(1000);
    expectNoLoss(await settle(load), { minRequests: 300, failedAtMost: 2 * 8 });
  }, 600_000);

  it("killed with `compose kill` (Docker leaves it down), brought back by `restart memcachedN`", async () => {
    load.start();
    for (const node of NODES) {
      await sleep(1000);
      const killed = await compose(["kill", "-s", "SIGKILL", node]);
      expect(killed.exitCode, killed.stderr).toBe(0);
      await sleep(1500);
      const r = await cli(["restart", node]);
      expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
      const s = launcherStatus(node);
      expect(s.state).toBe("serving");
      expect(s.lastRecovery?.copied).toBeGreaterThanOrEqual(1000);
    }
    await sleep(1000);
    expectNoLoss(await settle(load), { minRequests: 300, failedAtMost: 2 * 8 });
  }, 600_000);

  it("a graceful `restart memcached1 memcached2` keeps every session and update", async () => {
    load.start();
    await sleep(1000);
    const r = await cli(["restart", ...NODES, "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const node of NODES) expect(launcherStatus(node).lastRecovery?.cold).toBe(false);
    await sleep(1000);
    expectNoLoss(await settle(load), { minRequests: 300, failedAtMost: 0 });
  }, 600_000);

  it("memcached hung with SIGSTOP inside its container for 3 s, then resumed: no old copy is served", async () => {
    await eachNodeAwayAndBack(async (id, node) => {
      const { pid } = launcherStatus(node);
      // sh's kill builtin: the image has no procps
      await execa("docker", ["exec", id, "sh", "-c", `kill -STOP ${pid}`]);
      return () => execa("docker", ["exec", id, "sh", "-c", `kill -CONT ${pid}`], { reject: false });
    });
    expectNoLoss(await settle(load), { minRequests: 300 });
  }, 600_000);

  it("the whole container frozen (docker pause) for 3 s, then resumed: no old copy is served", async () => {
    await eachNodeAwayAndBack(async (id) => {
      await execa("docker", ["pause", id]);
      return () => execa("docker", ["unpause", id]);
    });
    expectNoLoss(await settle(load), { minRequests: 300 });
  }, 600_000);

  it("cut off from its network for 3 s (docker network disconnect), then reconnected: no old copy is served", async () => {
    const reasons = await eachNodeAwayAndBack(async (id) => {
      const [network, ip] = (
        await inspect(id, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}}{{end}}")
      ).split(" ") as [string, string];
      await execa("docker", ["network", "disconnect", network, id]);
      return () => execa("docker", ["network", "connect", "--ip", ip, network, id]);
    });
    for (const reason of reasons) expect(reason).toMatch(/cut off/);
    expectNoLoss(await settle(load), { minRequests: 300 });
  }, 600_000);

  it("verify's memcached-node-loss and memcached-restart pass with 1,000 sessions", async () => {
    const r = await cli(
      ["verify", "--json", "--sessions", "1000", "--scenario", "memcached-node-loss", "memcached-restart"],
      900_000,
    );
    const doc = JSON.parse(r.stdout);
    const checks = (doc.data?.checks ?? doc.error?.details?.report?.checks ?? []) as {
      name: string;
      ok: boolean;
      detail: string;
    }[];
    expect(
      checks.filter((c) => !c.ok),
      r.stdout,
    ).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual(["memcached-node-loss", "memcached-restart"]);
    expect(r.exitCode).toBe(0);
  }, 960_000);
});
