import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, runCli, tempDir } from "../helpers/cli.js";
import { freePortBlock, liveGroupMembers, recordedProcesses, writeCluster } from "../helpers/cluster.js";
import { spinning, Terminal } from "../helpers/tmux.js";
import { findBinary, requireBinary } from "../helpers/validators.js";

/**
 * Ctrl-C on a real terminal (tmux), sent while a spinner is shown: the command stops what it
 * started or brings back what it took down, and exits 130; a second ^C exits at once.
 */
for (const bin of ["nginx", "apache2", "memcached", "tmux"]) requireBinary(bin);

const { dir, cleanup } = tempDir("phpcluster-ctrlc-");
chmodSync(dir, 0o755);
const terminals: Terminal[] = [];
let file = "";
let stateDir = "";

/**
 * Apache wrapped: while the marker file exists, a node's start first sleeps for the number of
 * seconds the marker says (and with "stubborn" also ignores SIGTERM), so a step stays on screen.
 */
const marker = path.join(dir, "slow");
const wrapper = path.join(dir, "apache2-wrapper");
const env = () => ({ PHPCLUSTER_APACHE2: wrapper });

function cli(args: string[]) {
  return runCli([...args, "-f", file], { cwd: dir, env: env(), timeout: 120_000 });
}

async function terminal(name: string, args: string[]): Promise<Terminal> {
  const t = new Terminal(dir, name);
  terminals.push(t);
  await t.start([process.execPath, BIN, ...args, "-f", file], env());
  return t;
}

function liveGroups(): string[] {
  if (!existsSync(path.join(stateDir, "processes.json"))) return [];
  return Object.entries(recordedProcesses(stateDir))
    .filter(([, p]) => liveGroupMembers(p.pgid).length > 0)
    .map(([name]) => name);
}

async function allRunning(): Promise<string[]> {
  const r = await cli(["status", "--json"]);
  return JSON.parse(r.stdout).data.nodes.map((n: { name: string; state: string }) => `${n.name}:${n.state}`);
}

const RUNNING = ["memcached1:running", "app1:running", "app2:running", "lb:running"];

afterAll(async () => {
  for (const t of terminals) await t.close();
  rmSync(marker, { force: true });
  if (existsSync(stateDir)) await cli(["destroy"]);
  cleanup();
});

describe("Ctrl-C on a terminal while a spinner shows", () => {
  it("create: stops what it started, exit 130", async () => {
    const apache2 = findBinary("apache2") ?? "apache2";
    writeFileSync(
      wrapper,
      `#!/bin/bash\nif [ -e ${marker} ]; then\n  read -r secs mode < ${marker}\n  [ "$mode" = stubborn ] && trap '' TERM\n  sleep "$secs"\nfi\nexec ${apache2} "$@"\n`,
      { mode: 0o755 },
    );
    const port = await freePortBlock(4);
    file = writeCluster(dir, { name: "ctrlc", port });
    stateDir = path.join(dir, ".phpcluster", "ctrlc");
    writeFileSync(marker, "30\n");
    const t = await terminal("create", ["create"]);
    await t.waitFor(spinning("start app1"));
    expect(liveGroups()).toContain("memcached1");
    await t.interrupt();
    expect(await t.waitExit()).toBe(130);
    expect(await t.screen()).toMatch(/interrupted; stopped what had been started/);
    expect(liveGroups()).toEqual([]); // nothing left running: memcached1 and the sleeping app1 are gone
  });

  it("verify: brings back the node the scenario killed, exit 130", async () => {
    rmSync(marker, { force: true });
    const created = await cli(["create"]);
    expect(created.exitCode, created.stderr).toBe(0);
    const t = await terminal("verify", ["verify"]);
    await t.waitFor(spinning("verify kill-mid-request"));
    await new Promise((r) => setTimeout(r, 700)); // past the kill, inside the wait for the lock to expire
    await t.interrupt();
    expect(await t.waitExit()).toBe(130);
    const screen = await t.screen();
    expect(screen).toMatch(/✔ restore app\d/);
    expect(screen).not.toMatch(/checks passed/); // it stopped; the rest did not run
    expect(await allRunning()).toEqual(RUNNING);
  });

  it("restart: the node being restarted runs again and is put back into the balancer; the others are not touched", async () => {
    const app2 = recordedProcesses(stateDir).app2?.pid;
    writeFileSync(marker, "3\n");
    const t = await terminal("restart", ["restart"]);
    await t.waitFor(spinning("restart app1"));
    await t.interrupt();
    expect(await t.waitExit()).toBe(130);
    rmSync(marker, { force: true });
    expect(await t.screen()).toMatch(/put app1 back/);
    expect(await allRunning()).toEqual(RUNNING);
    expect(recordedProcesses(stateDir).app2?.pid).toBe(app2);
    expect(readFileSync(path.join(stateDir, "native", "nginx", "nginx.conf"), "utf8")).not.toMatch(/ down;/);
  });

  it("a second ^C exits at once, even while the first one's cleanup runs", async () => {
    expect((await cli(["destroy"])).exitCode).toBe(0);
    writeFileSync(marker, "30 stubborn\n"); // app1 will ignore the SIGTERM of the cleanup for 10 s
    const t = await terminal("twice", ["create"]);
    await t.waitFor(spinning("start app1"));
    await t.interrupt();
    await t.waitFor(spinning("stop what was started"));
    await t.interrupt();
    expect(await t.waitExit()).toBe(130);
    expect(liveGroups()).toContain("app1"); // the cleanup had not finished when it exited
    expect(await t.screen()).not.toMatch(/✔ stop what was started/);
  });
});
