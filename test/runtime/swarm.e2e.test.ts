/**
 * The swarm runtime on a real three-engine swarm (`.ci/swarm-bed.sh up`: three Docker engines in
 * network namespaces on one bridge, a registry on bed1). Real images built on the manager, pushed,
 * pulled by the other hosts; real containers killed on their own host's engine.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Browser } from "../helpers/browser.js";
import { checksOf, REPO, runCli } from "../helpers/cli.js";
import { readSecretOf } from "../helpers/cluster.js";
import { expectDrawnReport, readReport } from "../helpers/report-page.js";

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
    warming?: boolean;
    recovery?: { reason: string; awayMs: number };
  }[];
  url: string;
}

/**
 * The tests' own load through the balancer: browsers that each keep one session of the sample
 * page (a counter), one request at a time, and know what each session's last answer was. A
 * request that is not 200 failed; a session with a new id was lost; a counter that did not go
 * up by exactly one is stale (an older copy, or a lost write).
 */
function sessionLoad(url: string, count: number) {
  const browsers = Array.from({ length: count }, () => new Browser());
  const last: number[] = [];
  const ids: string[] = [];
  const stats = { requests: 0, failed: 0, stale: 0, lost: 0, slowest: 0, samples: [] as string[] };
  const visit = async (i: number) => {
    const t0 = performance.now();
    const page = await (browsers[i] as Browser)
      .get(url)
      .catch((err: Error) => ({ status: 0, body: err.message, headers: {} }));
    const ms = performance.now() - t0;
    stats.requests++;
    stats.slowest = Math.max(stats.slowest, ms);
    const n = Number(/Visit (\d+)/.exec(page.body)?.[1] ?? 0);
    const id = /session <code>([^<]+)<\/code>/.exec(page.body)?.[1] ?? "";
    if (page.status !== 200) {
      stats.failed++;
      if (stats.samples.length < 5) stats.samples.push(`HTTP ${page.status} ${page.body.slice(0, 120)}`);
      return;
    }
    if (ids[i] === undefined) ids[i] = id;
    else if (id !== ids[i]) {
      stats.lost++;
      if (stats.samples.length < 5) stats.samples.push(`session ${i}: new id ${id} after ${ids[i]}`);
      ids[i] = id;
    } else if (n !== (last[i] ?? 0) + 1) {
      stats.stale++;
      if (stats.samples.length < 5) stats.samples.push(`session ${i}: visit ${n} after ${last[i]}`);
    }
    last[i] = n;
  };
  const round = () => Promise.all(browsers.map((_, i) => visit(i)));
  return {
    stats,
    round,
    /** Rounds of one request per session until `done()` says so. */
    async until(done: () => boolean) {
      while (!done()) await round();
    },
  };
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
    const data = JSON.parse(r.stdout).data as Status;
    expect(r.exitCode, r.stderr).toBe(data.nodes.every((n) => n.state === "running") ? 0 : 9); // 9: degraded
    return data;
  };

  // a failed test keeps every node's log (the memcached launchers say each recovery and its
  // figures) under test/artifacts/, for the CI job to keep: the cluster is gone afterwards
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== "fail" || !file) return;
    const logs = await cli(["logs", "-n", "5000"], 120_000);
    const out = path.join(REPO, "test", "artifacts");
    mkdirSync(out, { recursive: true });
    const slug = ctx.task.name.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 60);
    writeFileSync(path.join(out, `swarm-${slug}.log`), `${logs.stdout}\n${logs.stderr}`);
    const report = path.join(dir, "report.html"); // verify's, with every request's timeline
    if (ctx.task.name.startsWith("verify") && existsSync(report))
      copyFileSync(report, path.join(out, `swarm-${slug}.html`));
  });

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

  it("failover --mode kill without the hosts' engines: the task is removed through the manager with no grace, failover says so, the session moves on", async () => {
    const r = await runCli(["-f", file, "failover", "--mode", "kill", "--json"], {
      cwd: dir,
      env: { DOCKER_HOST: MANAGER, PHPCLUSTER_SWARM_ENGINES: "" },
      timeout: 300_000,
    });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).toMatch(
      /is not known \(PHPCLUSTER_SWARM_ENGINES\), so its task was removed through the manager with no grace period/,
    );
    const report = JSON.parse(r.stdout).data;
    expect(report.ok).toBe(true);
    expect(report.after.node).not.toBe(report.node);
    expect(report.after.counter).toBe(report.before.counter + 1);
    // back with its own grace period: the rendered spec was deployed again on its start
    let back = false;
    for (let i = 0; i < 90 && !back; i++) {
      back = (await status()).nodes.every((n) => n.state === "running");
      if (!back) await new Promise((res) => setTimeout(res, 1000));
    }
    expect(back).toBe(true);
    const grace = docker(MANAGER, [
      "service",
      "inspect",
      "--format",
      "{{json .Spec.TaskTemplate.ContainerSpec.StopGracePeriod}}",
      `${name}_${report.node}`,
    ]).stdout.trim();
    expect(Number(grace)).toBeGreaterThan(0);
  }, 360_000);

  it("config set php.memory_limit=384M --apply under load: rolled node by node, 0 failed, 0 lost, every node at the new value", async () => {
    const s = await status();
    const load = sessionLoad(s.url, 8);
    await load.round();
    let done = false;
    const running = load.until(() => done);
    let set: Awaited<ReturnType<typeof cli>>;
    try {
      set = await cli(["config", "set", "php.memory_limit=384M", "--apply", "--json"], 600_000);
    } finally {
      done = true;
      await running;
    }
    expect(set.exitCode, `${set.stdout}\n${set.stderr}`).toBe(0);
    expect(JSON.parse(set.stdout).data).toMatchObject({ needs: ["app1", "app2", "app3"], applied: true });
    expect(load.stats.failed, load.stats.samples.join("\n")).toBe(0);
    expect(load.stats.lost, load.stats.samples.join("\n")).toBe(0);
    expect(load.stats.stale, load.stats.samples.join("\n")).toBe(0);
    // each app service runs the new php.ini version, and PHP on every node says 384M
    const names = ["app1", "app2", "app3"].map((n) => {
      const r = docker(MANAGER, [
        "service",
        "inspect",
        "--format",
        '{{range .Spec.TaskTemplate.ContainerSpec.Configs}}{{if eq .File.Name "/etc/phpcluster/php.ini"}}{{.ConfigName}}{{end}}{{end}}',
        `${name}_${n}`,
      ]);
      return r.stdout.trim();
    });
    expect(new Set(names).size, names.join(" ")).toBe(3);
    // PHP on every node says 384M (the probe through the balancer, until each node answered)
    const secret = readSecretOf(path.join(dir, ".phpcluster", name));
    const seen = new Map<string, string>();
    const probe = new Browser();
    for (let i = 0; i < 60 && seen.size < 3; i++) {
      const page = await probe.get(`${s.url}.phpcluster/probe.php?action=ini&keys=memory_limit`, {
        "X-Phpcluster-Secret": secret,
      });
      const body = JSON.parse(page.body) as { node?: string; requested: Record<string, string> };
      seen.set(String(page.headers["x-served-by"] ?? body.node), body.requested.memory_limit ?? "");
    }
    expect(Object.fromEntries(seen)).toEqual({ app1: "384M", app2: "384M", app3: "384M" });
  }, 900_000);

  it("verify passes every scenario of its default run across the hosts, host-drain included", async () => {
    const html = path.join(dir, "report.html");
    const r = await cli(["verify", "--json", "--report", html], 900_000);
    expect(r.exitCode, checksOf(r.stdout)).toBe(0);
    const data = JSON.parse(r.stdout).data as {
      ok: boolean;
      checks: { name: string; scenario: string; ok: boolean; timeline?: unknown }[];
      versions?: Record<string, string>;
    };
    expect(data.versions?.balancer).toMatch(/^nginx\/\d+\.\d+/); // nginx -v in the balancer's container
    // the HTML report of a swarm run, host-drain's timeline among the charts, drawn in a real browser
    const page = await readReport(html, "verify-swarm.png");
    expectDrawnReport(page, data.checks, expect);
    expect(page.charts.some((c) => c.check.startsWith("host-drain"))).toBe(true);
    expect(data.ok).toBe(true);
    expect([...new Set(data.checks.map((c) => c.scenario))].sort()).toEqual(
      [
        "effective-config",
        "health",
        "host-drain",
        "kill-mid-request",
        "kill-owner",
        "memcached-node-loss",
        "memcached-restart",
        "rolling-restart",
        "session-store",
      ].sort(),
    );
    // the memcached nodes' launchers, on other hosts, say through the cluster network that they
    // serve, and how they came back the last time (verify restarted each)
    for (const n of (await status()).nodes.filter((x) => x.role === "memcached")) {
      expect(n.warming, n.name).toBe(false);
      expect(n.recovery?.awayMs, n.name).toBeGreaterThan(0);
    }
  }, 960_000);

  it("a whole host cut off the network (link down): sessions keep their data, no request fails; back: none stale", async () => {
    const s = await status();
    const lbHost = s.nodes.find((n) => n.name === "lb")?.host?.hostname;
    const on = (h: string | undefined) => s.nodes.filter((n) => n.host?.hostname === h).map((n) => n.name);
    const host = ["bed1", "bed2", "bed3"].find(
      (h) =>
        h !== lbHost &&
        on(h).some((n) => n.startsWith("app")) &&
        on(h).some((n) => n.startsWith("memcached")),
    );
    expect(host, JSON.stringify(s.nodes)).toBeDefined();
    const load = sessionLoad(s.url, 12);
    const { stats } = load;
    await load.round();

    const cut = spawnSync("ip", ["-n", host as string, "link", "set", "eth0", "down"]);
    expect(cut.status).toBe(0);
    try {
      // 6 s: longer than the launcher's two silent probe rounds, shorter than Swarm's wait before
      // it declares the host down and replaces its tasks (see README: a longer cut is not solved)
      const until = Date.now() + 6000;
      await load.until(() => Date.now() >= until);
    } finally {
      expect(spawnSync("ip", ["-n", host as string, "link", "set", "eth0", "up"]).status).toBe(0);
    }
    const during = { ...stats };
    // back: the memcached node on that host returns as a returning node; keep the sessions busy meanwhile
    const until = Date.now() + 20_000;
    await load.until(() => Date.now() >= until);
    expect(stats.failed, stats.samples.join("\n")).toBe(0);
    expect(stats.lost).toBe(0);
    expect(stats.stale, stats.samples.join("\n")).toBe(0);
    // how long each request takes during the cut is a figure (printed), not an assertion:
    // bench/swarm-host-cut.mjs measures it
    console.log(
      `host cut: ${during.requests} requests during the cut, slowest ${Math.round(during.slowest)} ms; ${stats.requests} in all`,
    );
    // every node is back (Swarm may have replaced the host's tasks meanwhile)
    let back = false;
    for (let i = 0; i < 90 && !back; i++) {
      back = (await status()).nodes.every((n) => n.state === "running");
      if (!back) await new Promise((r) => setTimeout(r, 1000));
    }
    expect(back, JSON.stringify((await status()).nodes)).toBe(true);
  }, 300_000);

  /** The copies of this cluster's images on each of the bed's engines, as `repo:tag on bedN`. */
  const copies = () =>
    [1, 2, 3].flatMap((i) =>
      ["app", "lb", "memcached"].flatMap((role) =>
        docker(sock(i), [
          "image",
          "ls",
          "--format",
          "{{.Repository}}:{{.Tag}}",
          `${REGISTRY}/phpcluster/phpcluster-${name}-${role}`,
        ])
          .stdout.split("\n")
          .filter((l) => l.trim() !== "" && !l.endsWith(":<none>"))
          .map((ref) => `${ref} on bed${i}`),
      ),
    );

  it("destroy leaves no service, container, network, config, secret or memory file on any engine", async () => {
    const before = copies();
    // the manager built them, the other hosts pulled what they run
    expect(
      new Set(before.map((c) => c.replace(/.* on /, ""))).size,
      before.join("\n"),
    ).toBeGreaterThanOrEqual(2);
    const r = await cli(["destroy", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout).data;
    expect([...doc.images.kept].sort()).toEqual([...before].sort());
    expect(doc.images.removed).toEqual([]);
    expect(doc.images.elsewhere.join("\n")).toMatch(
      /registry 10\.77\.0\.11:5000\/phpcluster keeps the copies/,
    );
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

  it("destroy --images removes the copies on every host whose engine is known, and names the hosts it could not reach", async () => {
    const before = copies();
    expect(
      before.some((c) => !c.endsWith(" on bed1")),
      before.join("\n"),
    ).toBe(true);
    // without the hosts' engines: the manager's copies go, the others are named as staying
    const blind = await runCli(["-f", file, "destroy", "--images", "--json"], {
      cwd: dir,
      env: { DOCKER_HOST: MANAGER, PHPCLUSTER_SWARM_ENGINES: "" },
      timeout: 300_000,
    });
    expect(blind.exitCode, blind.stderr).toBe(0);
    const partial = JSON.parse(blind.stdout).data;
    const onManager = before.filter((c) => c.endsWith(" on bed1"));
    expect([...partial.images.removed].sort()).toEqual(onManager.sort());
    for (const h of ["bed2", "bed3"])
      expect(partial.images.elsewhere.join("\n")).toMatch(new RegExp(`${h}: its engine is not known`));
    const left = copies();
    expect(left.filter((c) => c.endsWith(" on bed1"))).toEqual([]);
    expect([...left].sort()).toEqual(before.filter((c) => !c.endsWith(" on bed1")).sort());
    // with them: every copy is gone from every engine
    const r = await cli(["destroy", "--images", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout).data;
    expect([...doc.images.removed].sort()).toEqual([...left].sort());
    expect(doc.images.bytes).toBeGreaterThan(0);
    expect(copies()).toEqual([]);
    expect(doc.images.elsewhere.join("\n")).not.toMatch(/is not known|did not answer/);
  }, 300_000);
});
