/**
 * The swarm runtime on a real three-engine swarm (`.ci/swarm-bed.sh up`: three Docker engines in
 * network namespaces on one bridge, a registry on bed1). Real images built on the manager, pushed,
 * pulled by the other hosts; real containers killed on their own host's engine.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser } from "../helpers/browser.js";
import { REPO, runCli } from "../helpers/cli.js";

const BED = process.env.PHPCLUSTER_BED ?? "/tmp/pcbed";
const sock = (i: number) => `unix://${BED}/bed${i}/docker.sock`;
const MANAGER = sock(1);
const ENGINES = [1, 2, 3].map((i) => `bed${i}=${sock(i)}`).join(",");
const REGISTRY = "10.77.0.11:5000";

function bedIsUp(): boolean {
  const r = spawnSync("docker", ["-H", MANAGER, "node", "ls", "--format", "{{.Status}}"], {
    encoding: "utf8",
    timeout: 15_000,
  });
  const ready = r.status === 0 ? r.stdout.split("\n").filter((l) => l === "Ready").length : 0;
  if (ready === 3) return true;
  const why =
    r.status === 0 ? `the bed's swarm has ${ready} ready nodes, not 3` : "the swarm test bed is not up";
  if (process.env.CI) throw new Error(`${why}; the swarm e2e tests need it in CI (bash .ci/swarm-bed.sh up)`);
  console.warn(`skipping the swarm e2e tests: ${why} (bash .ci/swarm-bed.sh up, as root)`);
  return false;
}

const up = bedIsUp();
const env = { DOCKER_HOST: MANAGER, PHPCLUSTER_SWARM_ENGINES: ENGINES };
const docker = (host: string, args: string[]) =>
  spawnSync("docker", ["-H", host, ...args], { encoding: "utf8", timeout: 60_000 });

interface Status {
  nodes: {
    name: string;
    role: string;
    state: string;
    host?: { id: string; hostname: string; address: string };
  }[];
  url: string;
}

describe.skipIf(!up)("swarm runtime on three engines", () => {
  const name = `sw${Math.floor(Math.random() * 1e6).toString(36)}`;
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  let dir = "";
  let file = "";
  const cli = (args: string[], timeout = 300_000) =>
    runCli(["-f", file, ...args], { cwd: dir, env, timeout });
  const status = async (): Promise<Status> => {
    const r = await cli(["status", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout).data as Status;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "phpcluster-swarm-"));
    cpSync(path.join(REPO, "examples", "public"), path.join(dir, "public"), { recursive: true });
    file = path.join(dir, "phpcluster.yml");
    writeFileSync(
      file,
      [
        `name: ${name}`,
        "runtime: swarm",
        "balancer:",
        "  bind: 0.0.0.0",
        `  port: ${port}`,
        "app:",
        "  replicas: 3",
        "  root: ./public",
        "sessions:",
        "  replicas: 1",
        "memcached:",
        "  nodes: 2",
        "images:",
        "  base: phpcluster/base:bookworm",
        `  registry: ${REGISTRY}/phpcluster`,
        "swarm:",
        "  encrypted: false   # this kernel has no IPsec",
        "",
      ].join("\n"),
    );
    const r = await cli(["create", "--json"], 1_200_000);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
  }, 1_260_000);

  afterAll(async () => {
    if (file && existsSync(file)) await cli(["destroy"]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it("places app nodes on at least two hosts and the memcached nodes on different hosts; every container is labelled", async () => {
    const s = await status();
    expect(
      s.nodes.every((n) => n.state === "running"),
      JSON.stringify(s.nodes),
    ).toBe(true);
    const hostOf = (n: string) => s.nodes.find((x) => x.name === n)?.host?.hostname;
    expect(new Set(["app1", "app2", "app3"].map(hostOf)).size).toBeGreaterThanOrEqual(2);
    expect(hostOf("memcached1")).toBeDefined();
    expect(hostOf("memcached1")).not.toBe(hostOf("memcached2"));
    // the balancer's URL is an address of the host it is published on
    const lb = s.nodes.find((n) => n.name === "lb");
    expect(s.url).toBe(`http://${lb?.host?.address}:${port}/`);
    const labelled = [1, 2, 3].flatMap((i) =>
      docker(sock(i), [
        "ps",
        "--filter",
        `label=io.phpcluster.cluster=${name}`,
        "--format",
        '{{.Label "io.phpcluster.node"}}',
      ])
        .stdout.split("\n")
        .filter(Boolean),
    );
    expect(labelled.sort()).toEqual(["app1", "app2", "app3", "lb", "memcached1", "memcached2"]);
  });

  it("a SIGKILL of the serving app container on its own host: the session keeps its id and data, no request fails", async () => {
    const s = await status();
    const browser = new Browser();
    const visit = async () => {
      const page = await browser.get(s.url);
      return {
        status: page.status,
        node: String(page.headers["x-served-by"] ?? ""),
        visit: Number(/Visit (\d+)/.exec(page.body)?.[1] ?? 0),
        id: /session <code>([^<]+)<\/code>/.exec(page.body)?.[1] ?? "",
      };
    };
    const first = await visit();
    expect(first.status).toBe(200);
    const second = await visit();
    expect(second.id).toBe(first.id);
    const serving = s.nodes.find((n) => n.name === second.node);
    const engine = ENGINES.split(",")
      .find((e) => e.startsWith(`${serving?.host?.hostname}=`))
      ?.split("=")[1];
    expect(engine, `no engine for ${serving?.host?.hostname}`).toBeDefined();
    const container = docker(engine as string, [
      "ps",
      "-q",
      "--filter",
      `label=io.phpcluster.cluster=${name}`,
      "--filter",
      `label=io.phpcluster.node=${second.node}`,
    ]).stdout.trim();
    expect(container).not.toBe("");
    expect(docker(engine as string, ["kill", container]).status).toBe(0);
    let last = second.visit;
    for (let i = 0; i < 10; i++) {
      const v = await visit();
      expect(v.status).toBe(200);
      expect(v.id).toBe(first.id);
      expect(v.visit).toBe(last + 1);
      last = v.visit;
    }
    // Swarm starts the killed task again; the balancer follows its new address
    await runCli(["-f", file, "restart", second.node], { cwd: dir, env, timeout: 180_000 });
    expect((await status()).nodes.every((n) => n.state === "running")).toBe(true);
  }, 240_000);

  it("verify passes health, effective-config, session-store, kill-owner and host-drain across the hosts", async () => {
    const r = await cli(
      [
        "verify",
        "--json",
        "--scenario",
        "health",
        "effective-config",
        "session-store",
        "kill-owner",
        "host-drain",
      ],
      600_000,
    );
    expect(r.exitCode, r.stdout.slice(-3000)).toBe(0);
    expect(JSON.parse(r.stdout).data.ok).toBe(true);
  }, 660_000);

  it("destroy leaves no service, container, network, config, secret or memory file on any engine", async () => {
    const r = await cli(["destroy", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const label = `label=com.docker.stack.namespace=${name}`;
    expect(docker(MANAGER, ["service", "ls", "-q", "--filter", `name=${name}_`]).stdout.trim()).toBe("");
    expect(docker(MANAGER, ["config", "ls", "-q", "--filter", label]).stdout.trim()).toBe("");
    expect(docker(MANAGER, ["secret", "ls", "-q", "--filter", label]).stdout.trim()).toBe("");
    for (const i of [1, 2, 3]) {
      expect(
        docker(sock(i), ["ps", "-aq", "--filter", `label=io.phpcluster.cluster=${name}`]).stdout.trim(),
      ).toBe("");
      expect(docker(sock(i), ["network", "ls", "-q", "--filter", label]).stdout.trim()).toBe("");
    }
    // the bed's engines share this machine's /dev/shm
    expect(existsSync(`/dev/shm/phpcluster/swarm-${name}`)).toBe(false);
  }, 300_000);
});
