import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import {
  CookieSession,
  liveGroupMembers,
  type NativeCluster,
  nativeClusters,
  recordedProcesses,
} from "../helpers/cluster.js";
import { requireBinary } from "../helpers/validators.js";

/**
 * `up`, `stop`, `start`, and what `status`, `create` and `destroy` say about a cluster's state,
 * on the native runtime with real nginx, Apache+mod_php and memcached processes.
 */
for (const bin of ["nginx", "apache2", "memcached"]) requireBinary(bin);

const clusters = nativeClusters("phpcluster-life");
type Made = NativeCluster;
const makeCluster = (name: string) => clusters.make(name);
const cli = clusters.cli;

afterAll(() => clusters.destroyAll());

interface Node {
  name: string;
  state: string;
  pid?: number;
}

async function json(m: Made, args: string[]) {
  const r = await cli(m, [...args, "--json"]);
  return { exitCode: r.exitCode, stderr: r.stderr, doc: JSON.parse(r.stdout) };
}

async function waitGone(pgid: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (liveGroupMembers(pgid).length > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
}

describe("a cluster's state: up, stop, start, status, destroy", () => {
  it("status, start, stop and restart of a cluster that was never created say so (exit 10); destroy has nothing to do (exit 0); nothing is written", async () => {
    const m = await makeCluster("never");
    const status = await json(m, ["status"]);
    expect(status.exitCode).toBe(10);
    expect(status.doc.error.code).toBe("NOT_CREATED");
    expect(status.doc.error.message).toBe("cluster never is not created");
    expect(status.doc.data).toBeUndefined(); // no rows of "stopped"

    const text = await cli(m, ["status"]);
    expect(text.exitCode).toBe(10);
    expect(text.stdout).not.toMatch(/stopped/);
    expect(text.stderr).toMatch(/not created/);
    expect(text.stderr).toMatch(/phpcluster up/);

    expect((await json(m, ["start"])).exitCode).toBe(10);
    expect((await json(m, ["stop"])).exitCode).toBe(10);
    const restart = await json(m, ["restart"]);
    expect(restart.exitCode).toBe(10);
    expect(restart.doc.error.code).toBe("NOT_CREATED");
    expect(existsSync(path.join(m.dir, ".phpcluster"))).toBe(false); // restart made nothing

    const destroyed = await cli(m, ["destroy"]);
    expect(destroyed.exitCode, destroyed.stderr).toBe(0);
    expect(destroyed.stdout).toMatch(/nothing to destroy/);
    expect(existsSync(path.join(m.dir, ".phpcluster"))).toBe(false);
  });

  it("a create that fails (a port in use) leaves no state folder", async () => {
    const m = await makeCluster("failed");
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(m.port + 1, "127.0.0.1", resolve)); // app1's port
    try {
      const r = await cli(m, ["create"]);
      expect(r.exitCode).toBe(8);
      expect(r.stderr).toMatch(/already in use/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    expect(existsSync(m.stateDir)).toBe(false);
    expect(existsSync(path.join(m.dir, ".phpcluster"))).toBe(false);
  });

  it("up creates, is a no-op when healthy, heals a killed node; status exits 9 while degraded; create's refusal names up", async () => {
    const m = await makeCluster("up");
    const first = await json(m, ["up"]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.doc.data.created).toBe(true);
    expect(first.doc.data.nodes.every((n: Node) => n.state === "running")).toBe(true);

    const s = new CookieSession(m.port);
    expect(JSON.parse((await s.get("/")).body).n).toBe(1);

    // healthy: up changes nothing (same pids)
    const pids = Object.fromEntries(first.doc.data.nodes.map((n: Node) => [n.name, n.pid]));
    const again = await json(m, ["up"]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.doc.data).toMatchObject({ created: false, started: [] });
    expect(Object.fromEntries(again.doc.data.nodes.map((n: Node) => [n.name, n.pid]))).toEqual(pids);

    // create on a running cluster refuses (exit 8) and points at up
    const create = await cli(m, ["create"]);
    expect(create.exitCode).toBe(8);
    expect(create.stderr).toMatch(/phpcluster up/);

    // kill app2 from outside: status is degraded (exit 9), with the table all the same
    const app2 = recordedProcesses(m.stateDir).app2!;
    process.kill(-app2.pgid, "SIGKILL");
    await waitGone(app2.pgid);
    const degraded = await json(m, ["status"]);
    expect(degraded.exitCode).toBe(9);
    expect(degraded.doc.ok).toBe(false);
    expect(degraded.doc.error.code).toBe("CLUSTER_DEGRADED");
    expect(degraded.doc.error.message).toMatch(/app2 stopped/);
    expect(degraded.doc.data.nodes.find((n: Node) => n.name === "app2").state).toBe("stopped");
    const text = await cli(m, ["status"]);
    expect(text.exitCode).toBe(9);
    expect(text.stdout).toMatch(/app2\s+app\s+stopped/);

    const healed = await json(m, ["up"]);
    expect(healed.exitCode, healed.stderr).toBe(0);
    expect(healed.doc.data).toMatchObject({ created: false, started: ["app2"] });
    expect(healed.doc.data.nodes.find((n: Node) => n.name === "app1").pid).toBe(pids.app1); // the others untouched
    expect((await json(m, ["status"])).exitCode).toBe(0);
    expect(JSON.parse((await s.get("/")).body).n).toBe(2);
  });

  it("stop ends every process and keeps the state; start brings the cluster back with its sessions", async () => {
    const m = await makeCluster("stop");
    expect((await cli(m, ["create"])).exitCode).toBe(0);
    const s = new CookieSession(m.port);
    await s.get("/");
    expect(JSON.parse((await s.get("/")).body).n).toBe(2);
    const recorded = recordedProcesses(m.stateDir);

    const stopped = await json(m, ["stop"]);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    expect(stopped.doc.data.stopped).toEqual(["lb", "app2", "app1", "memcached1"]);
    for (const [name, p] of Object.entries(recorded)) {
      await waitGone(p.pgid);
      expect(liveGroupMembers(p.pgid), `${name} still runs`).toEqual([]);
    }
    expect(existsSync(path.join(m.stateDir, "secret"))).toBe(true);
    const status = await json(m, ["status"]);
    expect(status.exitCode).toBe(9);
    expect(status.doc.error.message).toBe("cluster stop is stopped");
    expect(status.doc.error.hint).toMatch(/phpcluster start/);
    expect((await json(m, ["stop"])).doc.data.stopped).toEqual([]); // stopped already: nothing to do

    const started = await json(m, ["start"]);
    expect(started.exitCode, started.stderr).toBe(0);
    expect(started.doc.data.started).toEqual(["memcached1", "app1", "app2", "lb"]);
    expect((await json(m, ["status"])).exitCode).toBe(0);
    // memcached came back from its memory file: the session continues
    expect(JSON.parse((await s.get("/")).body).n).toBe(3);
    expect((await json(m, ["start"])).doc.data.started).toEqual([]);

    expect((await cli(m, ["destroy"])).exitCode).toBe(0);
    expect(existsSync(m.stateDir)).toBe(false);
  });

  it("create with runtime auto says which runtime it picked and why (no Docker engine answers: native)", async () => {
    const m = await clusters.make("auto", { runtime: "auto" });
    const env = { DOCKER_HOST: "unix:///nonexistent/docker.sock" };
    const r = await runCli(["create", "-f", m.file], { cwd: m.dir, env, timeout: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /runtime auto picked native: no Docker engine answers; nginx, Apache\+mod_php and memcached are installed/,
    );
    const doctor = JSON.parse((await runCli(["doctor", "--json", "-f", m.file], { cwd: m.dir, env })).stdout);
    expect(doctor.data.auto).toBe("native");
    expect(doctor.data.autoReason).toMatch(/no Docker engine answers/);
    expect((await cli(m, ["destroy"])).exitCode).toBe(0);
  });
});
