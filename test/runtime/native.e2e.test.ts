import { chmodSync, existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import {
  CookieSession,
  get,
  liveGroupMembers,
  type NativeCluster,
  nativeClusters,
  readSecretOf,
  recordedProcesses,
} from "../helpers/cluster.js";
import { requireBinary } from "../helpers/validators.js";

/**
 * End-to-end on the native runtime: real nginx, Apache+mod_php and memcached processes, killed for
 * real. Every cluster is destroyed in afterAll, and the recorded process groups are checked gone.
 */
for (const bin of ["nginx", "apache2", "memcached"]) requireBinary(bin);

const clusters = nativeClusters("phpcluster-e2e");
type Made = NativeCluster;
const makeCluster = clusters.make;
const cli = clusters.cli;

afterAll(() => clusters.destroyAll());

function allRecordedGroupsGone(processes: Record<string, { pgid: number }>) {
  for (const [name, p] of Object.entries(processes)) {
    expect(liveGroupMembers(p.pgid), `${name} (group ${p.pgid}) still has live processes`).toEqual([]);
  }
}

describe("native runtime lifecycle", () => {
  it("create → status → kill -9 from outside → stopped → restart → running → destroy leaves nothing", async () => {
    const m = await makeCluster("life");
    const created = await cli(m, ["create", "--json"]);
    expect(created.exitCode, created.stderr).toBe(0);
    const data = JSON.parse(created.stdout).data;
    expect(data.runtime).toBe("native");
    expect(data.url).toBe(`http://127.0.0.1:${m.port}/`);
    expect(data.nodes.map((n: { name: string; state: string }) => `${n.name}:${n.state}`)).toEqual([
      "memcached1:running",
      "app1:running",
      "app2:running",
      "lb:running",
    ]);
    expect(statSync(path.join(m.stateDir, "secret")).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(m.dir, ".phpcluster", ".gitignore"), "utf8")).toBe("*\n"); // state stays out of git
    expect(readFileSync(path.join(m.stateDir, "secret"), "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);

    // the cluster serves a session through the balancer
    const s = new CookieSession(m.port);
    expect(JSON.parse((await s.get("/")).body).n).toBe(1);
    expect(JSON.parse((await s.get("/")).body).n).toBe(2);

    // kill app1's whole process group from outside the tool
    const recorded = recordedProcesses(m.stateDir);
    const app1 = recorded.app1!;
    expect(liveGroupMembers(app1.pgid).length).toBeGreaterThan(1); // parent + prefork children
    process.kill(-app1.pgid, "SIGKILL");
    const deadline = Date.now() + 5000;
    while (liveGroupMembers(app1.pgid).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    // not a zombie: the supervisor reaped it
    expect(existsSync(`/proc/${app1.pid}`)).toBe(false);

    const status = await cli(m, ["status", "--json"]);
    const nodes = JSON.parse(status.stdout).data.nodes as { name: string; state: string; detail?: string }[];
    expect(nodes.find((n) => n.name === "app1")).toMatchObject({
      state: "stopped",
      detail: "killed by SIGKILL",
    });
    expect(nodes.find((n) => n.name === "app2")?.state).toBe("running");
    // the session survived on app2
    expect(JSON.parse((await s.get("/")).body)).toMatchObject({ n: 3, node: "app2" });

    const restarted = await cli(m, ["restart", "app1"]);
    expect(restarted.exitCode, restarted.stderr).toBe(0);
    const after = JSON.parse((await cli(m, ["status", "--json"])).stdout).data.nodes as {
      name: string;
      state: string;
      pid: number;
    }[];
    expect(after.every((n) => n.state === "running")).toBe(true);
    expect(after.find((n) => n.name === "app1")?.pid).not.toBe(app1.pid);

    const before = recordedProcesses(m.stateDir);
    const destroyed = await cli(m, ["destroy"]);
    expect(destroyed.exitCode, destroyed.stderr).toBe(0);
    expect(existsSync(m.stateDir)).toBe(false);
    expect(existsSync(path.join(m.dir, ".phpcluster"))).toBe(false);
    expect(existsSync(path.join(m.dir, "public", "index.php"))).toBe(true); // user files untouched
    allRecordedGroupsGone({ ...recorded, ...before });
  });

  it("runs two clusters side by side without touching each other", async () => {
    const a = await makeCluster("side-a");
    const b = await makeCluster("side-b");
    expect((await cli(a, ["create"])).exitCode).toBe(0);
    expect((await cli(b, ["create"])).exitCode).toBe(0);
    const sa = new CookieSession(a.port);
    const sb = new CookieSession(b.port);
    await sa.get("/");
    await sb.get("/");
    expect(JSON.parse((await sa.get("/")).body).n).toBe(2);
    const bProcesses = recordedProcesses(b.stateDir);
    expect((await cli(a, ["destroy"])).exitCode).toBe(0);
    // b still runs, every one of its processes alive, and serves its session
    for (const p of Object.values(bProcesses)) expect(liveGroupMembers(p.pgid).length).toBeGreaterThan(0);
    expect(JSON.parse((await sb.get("/")).body).n).toBe(2);
    const status = JSON.parse((await cli(b, ["status", "--json"])).stdout).data;
    expect(status.running).toBe(true);
    expect((await cli(b, ["destroy"])).exitCode).toBe(0);
    allRecordedGroupsGone(bProcesses);
  });

  it("names a port in use before anything starts, and leaves nothing running", async () => {
    const m = await makeCluster("busy");
    const net = await import("node:net");
    const blocker = net.createServer();
    const appPort = m.port + 2; // app2's port
    await new Promise<void>((r) => blocker.listen(appPort, "127.0.0.1", () => r()));
    try {
      const r = await cli(m, ["create", "--json"]);
      expect(r.exitCode).toBe(8);
      const doc = JSON.parse(r.stdout);
      expect(doc.error.code).toBe("PORT_IN_USE");
      // the message names the process that holds the port (this test's), where /proc tells
      expect(doc.error.message).toMatch(
        new RegExp(`127\\.0\\.0\\.1:${appPort} \\(for app2; held by \\S+ \\(pid ${process.pid}\\)\\)`),
      );
      expect(existsSync(path.join(m.stateDir, "processes.json"))).toBe(false);
      expect(existsSync(path.join(m.stateDir, "supervisor.json"))).toBe(false);
      // the balancer port was not taken either
      await expect(get(m.port, "/", {}, 1000)).rejects.toThrow();
    } finally {
      blocker.close();
    }
  });

  it("an app.extensions extension that is not installed: create names its package and starts nothing; doctor names it too", async () => {
    const m = await makeCluster("noext");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      m.file,
      `${readFileSync(m.file, "utf8")}\n`.replace("app:\n", "app:\n  extensions: [gmp]\n"),
    );
    expect(readFileSync(m.file, "utf8")).toContain("extensions: [gmp]");
    const r = await cli(m, ["create", "--json"]);
    expect(r.exitCode).toBe(4);
    expect(JSON.parse(r.stdout).error.message).toContain("gmp (php-gmp)");
    expect(existsSync(path.join(m.stateDir, "processes.json"))).toBe(false);
    const doctor = JSON.parse((await cli(m, ["doctor", "--json"])).stdout);
    expect(doctor.data?.missingPackages ?? doctor.error?.details?.missingPackages).toContain("php-gmp");
  });

  it("a missing program gives the doctor hint and starts nothing", async () => {
    const m = await makeCluster("nobin");
    const r = await runCli(["create", "-f", m.file], {
      cwd: m.dir,
      env: { PHPCLUSTER_MEMCACHED: "/nonexistent/memcached" },
    });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toContain("memcached");
    expect(r.stderr).toContain("phpcluster doctor --install --yes");
    expect(existsSync(path.join(m.stateDir, "processes.json"))).toBe(false);
  });

  it("create on a running cluster says so and changes nothing", async () => {
    const m = await makeCluster("twice");
    expect((await cli(m, ["create"])).exitCode).toBe(0);
    const before = recordedProcesses(m.stateDir);
    const again = await cli(m, ["create"]);
    expect(again.exitCode).toBe(8);
    expect(again.stderr).toContain("already running");
    expect(recordedProcesses(m.stateDir)).toEqual(before);
    expect((await cli(m, ["destroy"])).exitCode).toBe(0);
  });
});

describe("doctor and logs", () => {
  it("doctor reports the native runtime usable, and names the package of a missing program", async () => {
    const ok = await runCli(["doctor", "--json"]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const data = JSON.parse(ok.stdout).data;
    expect(data.native.usable).toBe(true);
    expect(data.usable).toContain("native");

    const missing = await runCli(["doctor", "--json"], { env: { PHPCLUSTER_NGINX: "/nonexistent/nginx" } });
    const report = JSON.parse(missing.stdout);
    const nginx = (report.data ?? report.error.details).native.prerequisites.find(
      (p: { name: string }) => p.name === "nginx",
    );
    expect(nginx).toMatchObject({ ok: false, package: "nginx" });
    // --install without --yes only says what it would run
    const dry = await runCli(["doctor", "--install"], { env: { PHPCLUSTER_NGINX: "/nonexistent/nginx" } });
    expect(dry.exitCode).toBe(2);
    expect(dry.stderr).toContain("would run: apt-get install nginx");
  });

  it("logs shows each node's last lines", async () => {
    const m = await makeCluster("logs");
    expect((await cli(m, ["create"])).exitCode).toBe(0);
    await new CookieSession(m.port).get("/");
    const r = await cli(m, ["logs", "lb", "--tail", "3", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const chunks = JSON.parse(r.stdout).data.logs as { node: string; file: string; lines: string[] }[];
    expect(chunks.every((c) => c.node === "lb")).toBe(true);
    const access = chunks.find((c) => c.file.endsWith("access.log"));
    expect(access?.lines.length).toBeGreaterThan(0);
    expect(access?.lines.length).toBeLessThanOrEqual(3);
    expect(access?.lines.join("\n")).toContain("GET / ");
    const unknown = await cli(m, ["logs", "app7"]);
    expect(unknown.exitCode).toBe(2); // a typo in a node name is a usage error
    expect(unknown.stderr).toMatch(/there is no node app7/);
    expect((await cli(m, ["destroy"])).exitCode).toBe(0);
  });
});

describe("native runtime guards", () => {
  it("a bad balancer config never takes the running balancer down", async () => {
    const m = await makeCluster("badconf");
    expect((await cli(m, ["create"])).exitCode).toBe(0);
    const { openCluster } = await import("../../src/runtime/index.js");
    const { reloadBalancer } = await import("../../src/runtime/kit/index.js");
    const { cluster, driver } = await openCluster({ cwd: m.dir, env: process.env, file: m.file });
    const conf = path.join(cluster.renderDir, "nginx", "nginx.conf");
    const good = readFileSync(conf, "utf8");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      conf,
      good.replace("upstream phpcluster_app {", "upstream phpcluster_app {\n        bogus_directive on;"),
    );
    const lbPid = recordedProcesses(m.stateDir).lb!.pid;
    await expect(reloadBalancer(driver)).rejects.toMatchObject({ code: "BALANCER_CONFIG_INVALID" });
    // still the same master, still serving sessions
    expect(recordedProcesses(m.stateDir).lb!.pid).toBe(lbPid);
    expect(liveGroupMembers(lbPid).length).toBeGreaterThan(1);
    const s = new CookieSession(m.port);
    expect((await s.get("/")).status).toBe(200);
    writeFileSync(conf, good);
    await reloadBalancer(driver);
    expect((await s.get("/")).status).toBe(200);
    expect((await cli(m, ["destroy"])).exitCode).toBe(0);
  });

  it("an application's 503 reaches the client and does not take the balancer down", async () => {
    const m = await makeCluster("busy");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      path.join(m.dir, "public", "maintenance.php"),
      "<?php http_response_code(503); echo getenv('PHPCLUSTER_NODE');\n",
    );
    expect((await cli(m, ["create"])).exitCode).toBe(0);
    // nginx retries a 503 on the other node and counts it as that node's failure: after these,
    // every app node is marked failed for fail_timeout (10 s)
    const answers = [await get(m.port, "/maintenance.php"), await get(m.port, "/maintenance.php")];
    expect(answers.map((a) => a.status)).toEqual([503, 503]);
    expect(answers.map((a) => a.body)).toEqual([
      expect.stringMatching(/^app[12]$/),
      expect.stringMatching(/^app[12]$/),
    ]);
    // the next requests are served all the same (not 502 "no live upstreams" for 10 s)
    const after = [];
    for (let i = 0; i < 10; i++) after.push((await get(m.port, "/")).status);
    expect(after).toEqual(Array(10).fill(200));
    expect((await cli(m, ["destroy"])).exitCode).toBe(0);
  });

  it("refuses to start when www-data cannot read the document root, and says which directory", async () => {
    const m = await makeCluster("private");
    chmodSync(m.dir, 0o700);
    const r = await cli(m, ["create"]);
    chmodSync(m.dir, 0o755);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain(`${m.dir} has mode 700`);
    expect(existsSync(path.join(m.stateDir, "processes.json"))).toBe(false);
  });

  it("a missing document root is named with the topology field, before anything starts", async () => {
    const m = await makeCluster("noroot");
    const { rmSync } = await import("node:fs");
    rmSync(path.join(m.dir, "public"), { recursive: true });
    const r = await cli(m, ["create"]);
    expect(r.exitCode).toBe(3);
    // caught by validation, with the file and line of the field
    expect(r.stderr).toMatch(/phpcluster\.yml:\d+:\d+ app\.root: app\.root \.\/public does not exist/);
    expect(existsSync(path.join(m.stateDir, "processes.json"))).toBe(false);
  });

  it("Ctrl-C during create stops what it started", async () => {
    const m = await makeCluster("interrupt", { replicas: 24 });
    const { execa } = await import("execa");
    const { BIN } = await import("../helpers/cli.js");
    const child = execa(process.execPath, [BIN, "create", "-f", m.file], {
      cwd: m.dir,
      env: { CI: "true", NO_COLOR: "1" },
      reject: false,
      timeout: 60_000,
    });
    let sent = false;
    let processes: ReturnType<typeof recordedProcesses> = {};
    child.stderr?.on("data", (d: Buffer) => {
      // plain mode prints a step when it ends: app2 is up, app3.. are still to start
      if (!sent && d.toString().includes("start app2")) {
        sent = true;
        // what was started so far, read before the interrupted create removes its state folder
        processes = recordedProcesses(m.stateDir);
        child.kill("SIGINT");
      }
    });
    const r = await child;
    expect(sent).toBe(true);
    expect(r.exitCode, r.stderr).toBe(130);
    expect(r.stderr).toContain("interrupted");
    expect(Object.keys(processes).length).toBeGreaterThan(0);
    allRecordedGroupsGone(processes);
    // an interrupted create leaves no state folder it made
    expect(existsSync(m.stateDir)).toBe(false);
  });

  it("two commands on one cluster never interleave: the second is refused while the first holds the lock", async () => {
    const m = await makeCluster("locked");
    const { lockCluster } = await import("../../src/runtime/cluster.js");
    const lock = await lockCluster(m.stateDir, "test");
    try {
      const r = await cli(m, ["create", "--json"]);
      expect(r.exitCode).toBe(8);
      expect(JSON.parse(r.stdout).error.code).toBe("CLUSTER_LOCKED");
      expect(existsSync(path.join(m.stateDir, "processes.json"))).toBe(false);
    } finally {
      await lock.release();
    }
  });
});

/** Keep one session busy through the balancer while `during` runs; every answer recorded. */
async function underLoad(m: Made, during: () => Promise<void>) {
  const secret = readSecretOf(m.stateDir);
  const s = new CookieSession(m.port);
  const results: { status: number; counter?: number; node?: string }[] = [];
  let stop = false;
  const load = (async () => {
    while (!stop && results.length < 20_000) {
      try {
        const r = await s.get("/.phpcluster/probe.php", { "X-Phpcluster-Secret": secret });
        const body = r.status === 200 ? JSON.parse(r.body) : {};
        results.push({ status: r.status, counter: body.counter, node: body.node });
      } catch {
        results.push({ status: -1 });
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  try {
    await during();
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    stop = true;
    await load;
  }
  return results;
}

describe("rolling restart", () => {
  it("restarts every app node while a client keeps one session busy: no failed request, the counter never goes back", async () => {
    const m = await makeCluster("rolling", { replicas: 3 });
    expect((await cli(m, ["create"])).exitCode).toBe(0);
    let restart: Awaited<ReturnType<typeof cli>> | undefined;
    const results = await underLoad(m, async () => {
      restart = await cli(m, ["restart", "--json"]);
    });
    expect(restart?.exitCode, restart?.stderr).toBe(0);
    expect(JSON.parse(restart?.stdout ?? "{}").data.restarted).toEqual(["app1", "app2", "app3", "lb"]);
    const failed = results.filter((r) => r.status !== 200);
    expect(failed, `failed requests: ${JSON.stringify(failed.slice(0, 5))}`).toEqual([]);
    const counters = results.map((r) => r.counter ?? 0);
    for (let i = 1; i < counters.length; i++) {
      expect(counters[i], `request ${i}`).toBe((counters[i - 1] ?? 0) + 1);
    }
    // the app nodes really were restarted and served the session in turn
    expect(new Set(results.map((r) => r.node)).size).toBeGreaterThan(1);
    expect(results.length).toBeGreaterThan(50);
    expect((await cli(m, ["destroy"])).exitCode).toBe(0);
  });

  it("the same load does see failures when the app nodes restart all at once (the check above can fail)", async () => {
    const m = await makeCluster("at-once", { replicas: 2 });
    expect((await cli(m, ["create"])).exitCode).toBe(0);
    const results = await underLoad(m, async () => {
      const r = await cli(m, ["restart", "--all-at-once"]);
      expect(r.exitCode, r.stderr).toBe(0);
    });
    expect(results.filter((r) => r.status !== 200).length).toBeGreaterThan(0);
    expect((await cli(m, ["destroy"])).exitCode).toBe(0);
  });
});
