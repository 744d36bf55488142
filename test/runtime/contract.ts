import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QUIET } from "../../src/runtime/driver.js";
import { type OpenCluster, openCluster } from "../../src/runtime/index.js";
import { reloadBalancer, startHealthy, waitUntil } from "../../src/runtime/kit/index.js";
import { createCluster, destroyCluster } from "../../src/runtime/lifecycle.js";
import { CookieSession, get } from "../helpers/cluster.js";

/**
 * The driver contract: the same behaviour checks against every runtime driver (native and compose
 * in CI; the next runtime joins by calling this with its own project). One real cluster per
 * driver, driven through the driver and the kit as the lifecycle does; every check reads the
 * result back from the real runtime.
 */
export interface ContractProject {
  /** A directory with a topology (runtime set) and a document root whose index.php counts in the session. */
  dir: string;
  file: string;
  /** The balancer's port on loopback. */
  port: number;
  /** A second topology of another cluster that wants the same balancer port. */
  clashing: { dir: string; file: string };
  cleanup: () => void;
}

const place = (p: { dir: string; file: string }) => ({ cwd: p.dir, env: process.env, file: p.file });

export function driverContract(runtime: "native" | "compose", make: () => Promise<ContractProject>): void {
  describe(`the ${runtime} driver contract`, () => {
    let project: ContractProject;
    let open: OpenCluster;
    const pidOf = async (node: string) => (await open.driver.inspect({ nodes: [node] }))[node]?.pid;
    const serving = async () => (await get(project.port, "/.phpcluster/health.php", {}, 10_000)).status;

    beforeAll(async () => {
      project = await make();
      open = await openCluster(place(project), runtime);
      expect(open.driver.name).toBe(runtime);
      await createCluster(open, { timeoutMs: 120_000, reporter: QUIET });
    }, 900_000);

    afterAll(async () => {
      if (open) await destroyCluster(open, { reporter: QUIET, cwd: project.dir }).catch(() => {});
      project?.cleanup();
    }, 180_000);

    it("brings every node up: each reads running, with an address and a pid", async () => {
      const readings = await open.driver.inspect();
      expect(Object.keys(readings).sort()).toEqual(["app1", "app2", "lb", "memcached1"]);
      for (const [node, r] of Object.entries(readings)) {
        expect(r.state, `${node}: ${r.detail}`).toBe("running");
        expect(r.address).toMatch(/:\d+$/);
        expect(r.pid).toBeGreaterThan(0);
      }
      expect(await open.driver.exists()).toBe(true);
    });

    it("knows its own cluster and no other", async () => {
      const other = await openCluster(place(project.clashing), runtime);
      expect(await other.driver.exists()).toBe(false);
      expect(Object.values(await other.driver.inspect()).every((r) => r.state === "stopped")).toBe(true);
    });

    it("reaches each app node directly, bypassing the balancer", async () => {
      for (const node of ["app1", "app2"]) {
        const r = await open.driver.httpGetNode({ node, path: "/.phpcluster/health.php", headers: {} });
        expect(r.status).toBe(200);
        expect(r.headers["x-served-by"]).toBe(node);
      }
      await expect(
        open.driver.httpGetNode({ node: "memcached1", path: "/", headers: {} }),
      ).rejects.toMatchObject({
        code: "UNKNOWN_NODE",
        exitCode: 2,
      });
    });

    it("reads session keys from a memcached node: the ones it holds, with their values", async () => {
      const s = new CookieSession(project.port);
      expect((await s.get("/")).status).toBe(200);
      expect((await s.get("/")).status).toBe(200);
      const sid = s.cookie.split("=")[1] ?? "";
      const key = `memc.sess.key.${sid}`;
      const read = await open.driver.readStoreKeys({
        node: "memcached1",
        keys: [key, "memc.sess.key.nosuchsession"],
      });
      expect(Object.keys(read)).toEqual([key]);
      expect(read[key]).toContain("n|i:2;");
    });

    it("kills a node: it reads stopped and failed at once, the others keep running, and it comes back", async () => {
      const before = await pidOf("app1");
      await open.driver.killNode({ node: "app1" });
      const after = await open.driver.inspect();
      expect(after.app1).toMatchObject({ state: "stopped", failed: true });
      expect([after.app2?.state, after.lb?.state, after.memcached1?.state]).toEqual([
        "running",
        "running",
        "running",
      ]);
      expect(await serving()).toBe(200); // the balancer sends the request to app2
      await startHealthy(open.driver, "app1", { timeoutMs: 60_000 });
      expect((await open.driver.inspect({ nodes: ["app1"] })).app1?.state).toBe("running");
      expect(await pidOf("app1")).not.toBe(before);
    });

    it("stops a node gracefully and starts it again; starting a running node changes nothing", async () => {
      await open.driver.stopNode({ node: "app2", graceMs: 10_000 });
      expect((await open.driver.inspect({ nodes: ["app2"] })).app2?.state).toBe("stopped");
      await startHealthy(open.driver, "app2", { timeoutMs: 60_000 });
      const pid = await pidOf("app2");
      await open.driver.startNode({ node: "app2" });
      expect(await pidOf("app2")).toBe(pid);
    });

    it("reloads the balancer: a new generation of workers, no old one still accepting, serving throughout", async () => {
      const old = (await open.driver.balancerWorkers()).filter((w) => w.accepting).map((w) => w.pid);
      expect(old.length).toBeGreaterThan(0);
      const master = await pidOf("lb");
      await reloadBalancer(open.driver);
      const now = (await open.driver.balancerWorkers()).filter((w) => w.accepting).map((w) => w.pid);
      expect(now.length).toBeGreaterThan(0);
      expect(now.filter((pid) => old.includes(pid))).toEqual([]);
      expect(await pidOf("lb")).toBe(master); // a reload, not a restart
      expect(await serving()).toBe(200);
    });

    it("a config nginx rejects is refused, and the running balancer goes on serving", async () => {
      const conf = path.join(open.cluster.renderDir, "nginx", "nginx.conf");
      const good = readFileSync(conf, "utf8");
      writeFileSync(
        conf,
        good.replace("upstream phpcluster_app {", "upstream phpcluster_app {\n        bogus_directive on;"),
      );
      try {
        expect(await open.driver.testBalancerConfig()).toMatch(/bogus_directive/);
        await expect(reloadBalancer(open.driver)).rejects.toMatchObject({ code: "BALANCER_CONFIG_INVALID" });
        expect(await serving()).toBe(200);
      } finally {
        writeFileSync(conf, good);
      }
      expect(await open.driver.testBalancerConfig()).toBeUndefined();
    });

    it("says the balancer's nginx version, as nginx -v gives it where the balancer runs", async () => {
      expect(await open.driver.balancerVersion()).toMatch(/^nginx\/\d+\.\d+\.\d+$/);
    });

    it("gives each node's log lines; an unknown node is a usage error", async () => {
      const logs = await open.driver.logs({ node: "lb", tail: 5 });
      expect(logs.length).toBeGreaterThan(0);
      expect(logs.every((c) => c.node === "lb" && c.lines.length <= 5)).toBe(true);
      await expect(open.driver.logs({ node: "app9", tail: 5 })).rejects.toMatchObject({
        code: "UNKNOWN_NODE",
      });
      await expect(open.driver.killNode({ node: "app9" })).rejects.toMatchObject({ code: "UNKNOWN_NODE" });
    });

    it("a second cluster on the same balancer port is refused before anything starts, naming the port", async () => {
      const other = await openCluster(place(project.clashing), runtime);
      await expect(other.driver.preflight({})).rejects.toMatchObject({
        code: "PORT_IN_USE",
        message: expect.stringContaining(`:${project.port} (for lb`),
      });
      expect(await other.driver.exists()).toBe(false);
    });

    it("down removes everything, and a second down is fine", async () => {
      await open.driver.down({ reporter: QUIET });
      expect(await open.driver.exists()).toBe(false);
      expect(Object.values(await open.driver.inspect()).every((r) => r.state === "stopped")).toBe(true);
      await waitUntil("the balancer port free", async () => (await serving().catch(() => 0)) === 0, {
        timeoutMs: 10_000,
      });
      await open.driver.down({ reporter: QUIET });
    });
  });
}
