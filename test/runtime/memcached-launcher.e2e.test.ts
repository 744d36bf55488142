import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { McConnection, MutationWatch } from "../../src/runtime/memcached/client.js";
import { continuum, homeOf, parseServer } from "../../src/runtime/memcached/placement.js";
import { tempDir } from "../helpers/cli.js";
import { freePortBlock } from "../helpers/cluster.js";
import { requireBinary } from "../helpers/validators.js";

/**
 * The launcher's parts against the real programs: its placement equals php-memcached's (the
 * extension's session handler writes, the keys are looked up on every server), and its
 * meta-protocol client against a real memcached.
 */
for (const bin of ["memcached", "php"]) requireBinary(bin);

const PREFIX = "memc.sess.key.";
const children: ChildProcess[] = [];
let ports: number[] = [];
let dir: string;
let cleanup: () => void;

async function startMemcached(port: number): Promise<void> {
  const root = process.getuid?.() === 0;
  const child = spawn(
    "memcached",
    [...(root ? ["-u", "memcache"] : []), "-l", "127.0.0.1", "-p", String(port), "-U", "0", "-m", "32"],
    {
      stdio: "ignore",
    },
  );
  children.push(child);
  for (let i = 0; i < 100; i++) {
    try {
      (await new McConnection("127.0.0.1", port, 200).connect()).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`memcached on ${port} did not start`);
}

beforeAll(async () => {
  ({ dir, cleanup } = tempDir("phpcluster-mcl-"));
  const base = await freePortBlock(3);
  ports = [base, base + 1, base + 2];
  for (const p of ports) await startMemcached(p);
}, 30_000);

afterAll(async () => {
  for (const c of children) {
    c.kill("SIGKILL");
    await new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once("exit", r)));
  }
  cleanup?.();
});

/** Sessions written by php-memcached's own handler, with the ini phpcluster renders. */
function writeSessions(ids: string[], replicas: number): void {
  const script = path.join(dir, "write.php");
  writeFileSync(
    script,
    `<?php
foreach (json_decode($argv[1], true) as $id) {
  session_id($id);
  if (!session_start()) exit(2);
  $_SESSION['v'] = $id;
  if (!session_write_close()) exit(3);
}
`,
  );
  const ini = {
    "session.save_handler": "memcached",
    "session.save_path": ports.map((p) => `127.0.0.1:${p}`).join(","),
    "session.use_strict_mode": "0",
    "session.use_cookies": "0",
    "session.cache_limiter": "",
    "memcached.sess_prefix": PREFIX,
    "memcached.sess_consistent_hash": "On",
    "memcached.sess_binary_protocol": "On",
    "memcached.sess_number_of_replicas": String(replicas),
    "memcached.sess_locking": "On",
  };
  const r = spawnSync(
    "php",
    [...Object.entries(ini).flatMap(([k, v]) => ["-d", `${k}=${v}`]), script, JSON.stringify(ids)],
    { encoding: "utf8", timeout: 60_000 },
  );
  expect(r.status, r.stderr + r.stdout).toBe(0);
}

async function holders(ids: string[]): Promise<number[][]> {
  const found = ids.map(() => [] as number[]);
  for (const [i, port] of ports.entries()) {
    const c = await new McConnection("127.0.0.1", port).connect();
    const got = await c.getMany(ids.map((id) => `${PREFIX}${id}`));
    c.close();
    ids.forEach((id, j) => {
      if (got.has(`${PREFIX}${id}`)) found[j]?.push(i);
    });
  }
  return found;
}

async function flushAll(): Promise<void> {
  for (const port of ports) {
    const c = await new McConnection("127.0.0.1", port).connect();
    await c.request("flush_all\r\n", (buf) => {
      const end = buf.indexOf(0x0a);
      return end < 0 ? { done: false } : { done: true, value: undefined, used: end + 1 };
    });
    c.close();
  }
}

describe("the launcher's placement is php-memcached's", () => {
  it.each([
    0, 1, 2,
  ])("3 servers, sess_number_of_replicas %i: every session on exactly the servers computed", async (replicas) => {
    await flushAll();
    const ids = Array.from(
      { length: 300 },
      (_, i) => `t${replicas}k${i}${Math.random().toString(36).slice(2, 10)}`,
    );
    writeSessions(ids, replicas);
    const servers = ports.map((p) => parseServer(`127.0.0.1:${p}`));
    const points = continuum(servers);
    const got = await holders(ids);
    const wrong = ids.filter((id, j) => {
      const want = [...homeOf(id, servers, replicas, points)].sort();
      return JSON.stringify(want) !== JSON.stringify(got[j]);
    });
    expect(wrong, `${wrong.length} of ${ids.length} placed elsewhere`).toEqual([]);
    // and the placement is not trivial: every server is some session's primary
    const primaries = new Set(ids.map((id) => homeOf(id, servers, replicas, points)[0]));
    expect(primaries.size).toBe(3);
  });
});

describe("the meta-protocol client", () => {
  it("stores, reads, guards with CAS and add, deletes, dumps the hash table", async () => {
    const c = await new McConnection("127.0.0.1", ports[0] as number).connect();
    try {
      const item = { key: "phpc.test.a", value: Buffer.from("one\r\ntwo"), flags: 7, ttl: 300 };
      const first = await c.store(item);
      expect(first.code).toBe("HD");
      const read = (await c.getMany(["phpc.test.a", "phpc.test.missing"])).get("phpc.test.a");
      expect(read?.value.toString()).toBe("one\r\ntwo"); // binary-safe: CR LF inside the value
      expect(read?.flags).toBe(7);
      expect(read?.ttl).toBeGreaterThan(290);
      expect(read?.cas).toBe(first.cas);
      // add refuses an existing key; a stale cas refuses to overwrite a newer write
      expect(await c.set({ ...item, value: Buffer.from("x") }, { add: true })).toBe("NS");
      const second = await c.store({ ...item, value: Buffer.from("three") });
      expect(await c.set({ ...item, value: Buffer.from("old") }, { cas: first.cas })).toBe("EX");
      expect((await c.getMany(["phpc.test.a"])).get("phpc.test.a")?.value.toString()).toBe("three");
      // no TTL: -1
      await c.store({ key: "phpc.test.forever", value: Buffer.from("f"), flags: 0, ttl: -1 });
      expect((await c.getMany(["phpc.test.forever"])).get("phpc.test.forever")?.ttl).toBe(-1);
      const dump = await c.dump();
      expect(dump.map((e) => e.key)).toEqual(expect.arrayContaining(["phpc.test.a", "phpc.test.forever"]));
      expect(dump.find((e) => e.key === "phpc.test.a")?.cas).toBe(second.cas);
      // a delete guarded by a stale cas does nothing; with the current one it deletes
      expect(await c.delete("phpc.test.a", first.cas)).toBe("EX");
      expect(await c.delete("phpc.test.a", second.cas)).toBe("HD");
      expect((await c.getMany(["phpc.test.a"])).size).toBe(0);
      expect(Object.keys(await c.stats())).toContain("curr_items");
    } finally {
      c.close();
    }
  });

  it("a mutation watch reports every key stored from then on, and not the ones before", async () => {
    const c = await new McConnection("127.0.0.1", ports[1] as number).connect();
    await c.store({ key: "phpc.watch.before", value: Buffer.from("b"), flags: 0, ttl: 60 });
    const w = new MutationWatch("127.0.0.1", ports[1] as number);
    await w.start();
    try {
      for (let i = 0; i < 50; i++)
        await c.store({ key: `phpc.watch.k${i}`, value: Buffer.from("v"), flags: 0, ttl: 60 });
      for (let i = 0; i < 100 && w.keys.size < 50; i++) await new Promise((r) => setTimeout(r, 20));
      expect(w.keys.size).toBe(50);
      expect(w.keys.has("phpc.watch.before")).toBe(false);
      expect(w.lossy).toBe(false);
    } finally {
      w.stop();
      c.close();
    }
  });

  it("a connection to nothing fails within its timeout", async () => {
    const port = await freePortBlock(1);
    await expect(new McConnection("127.0.0.1", port, 300).connect()).rejects.toThrow();
  });
});
