/**
 * The launcher's swarm-only parts that need no memcached: which nodes share the task's host
 * (they say nothing about a host cut), and the lock on a node's memory file between two tasks.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryFileLock, sameHostNodes } from "../../src/runtime/memcached/launcher.js";

const hostEnv = { task: "TASK_HOST", placement: "PLACEMENT" };

describe("sameHostNodes", () => {
  it("names the nodes placed on the task's own host, and only those", () => {
    const env = { TASK_HOST: "h2", PLACEMENT: "memcached1=h1 memcached2=h2 app1=h3 app2=h1 app3=h2 lb=h1" };
    expect([...sameHostNodes(hostEnv, env)].sort()).toEqual(["app3", "memcached2"]);
  });
  it("is empty without the variables (native, compose) or without the task's host", () => {
    expect(sameHostNodes(undefined, { TASK_HOST: "h1", PLACEMENT: "app1=h1" }).size).toBe(0);
    expect(sameHostNodes(hostEnv, { PLACEMENT: "app1=h1" }).size).toBe(0);
    expect(sameHostNodes(hostEnv, { TASK_HOST: "h1" }).size).toBe(0);
  });
});

describe("MemoryFileLock", () => {
  let dir = "";
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("waits while another launcher holds the file, and takes it once that one releases it", async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "phpcluster-lock-"));
    const file = path.join(dir, "m.mem.lock");
    const first = new MemoryFileLock(file);
    await first.acquire();
    const held = readFileSync(file, "utf8");
    const second = new MemoryFileLock(file, 3000, 15_000);
    let taken = false;
    const waiting = second.acquire().then(() => {
      taken = true;
    });
    await new Promise((r) => setTimeout(r, 600));
    expect(taken).toBe(false);
    expect(readFileSync(file, "utf8")).toBe(held);
    first.release();
    await waiting;
    expect(taken).toBe(true);
    expect(readFileSync(file, "utf8")).not.toBe(held);
    second.release();
    expect(existsSync(file)).toBe(false);
  });

  it("takes over a lock that nobody renews (its launcher was killed)", async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "phpcluster-lock-"));
    const file = path.join(dir, "m.mem.lock");
    writeFileSync(file, "a-killed-launcher");
    const old = new Date(Date.now() - 10_000);
    utimesSync(file, old, old);
    const lock = new MemoryFileLock(file, 3000, 15_000);
    await lock.acquire();
    expect(readFileSync(file, "utf8")).not.toBe("a-killed-launcher");
    lock.release();
  });

  it("release leaves a lock that another launcher took over", async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "phpcluster-lock-"));
    const file = path.join(dir, "m.mem.lock");
    const lock = new MemoryFileLock(file);
    await lock.acquire();
    writeFileSync(file, "someone-else");
    lock.release();
    expect(readFileSync(file, "utf8")).toBe("someone-else");
  });
});
