/**
 * The native render, run for real: memcached, one Apache + mod_php per app node and nginx, started
 * from the rendered files the way the native runtime starts them. Then the probe proves that the
 * pieces fit: the balancer reaches the app nodes, php.ini puts sessions in Memcached, and every app
 * node sees the same session.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HEALTH_PATH,
  nativeAddresses,
  PROBE_PATH,
  PROBE_SECRET_HEADER,
  renderCluster,
} from "../../src/render/index.js";
import { appNodeNames, memcachedNodeNames, type Topology } from "../../src/topology/index.js";
import {
  apache2PhpDir,
  appNodeEnv,
  findBinary,
  makeTempDir,
  removeDir,
  requireBinary,
  writeTree,
} from "../helpers/validators.js";
import { topologyFrom } from "./fixtures.js";

const available = ["nginx", "apache2", "memcached", "php"].every((name) => requireBinary(name));
const SECRET = "smoke-secret";

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A base port with `count` free ports from it. */
async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error("no free port range");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = res.status;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer: ${String(last)}`);
}

interface ProbeSession {
  node: string;
  sessionId: string;
  counter: number;
  nonce: string | null;
  saveHandler: string;
  savePath: string;
}

describe.skipIf(!available)("the native render, running", () => {
  const children: ChildProcess[] = [];
  let dir: string;
  let t: Topology;
  let out: string;
  let state: string;
  let url: (node: string, pathAndQuery: string) => string;

  function start(command: string, args: string[], env: Record<string, string>, log: string): void {
    const binary = findBinary(command) ?? command;
    const fd = fs.openSync(log, "a");
    const child = spawn(binary, args, {
      env: { ...process.env, ...env },
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    fs.closeSync(fd);
    children.push(child);
  }

  beforeAll(async () => {
    const base = await freePorts(5);
    t = topologyFrom(`name: smoke\nbalancer:\n  port: ${base}\n  strategy: round-robin\n`);
    dir = makeTempDir("native-smoke");
    out = path.join(dir, "render");
    state = path.join(dir, "state");
    const docroot = path.join(dir, "public");
    writeTree(out, renderCluster(t, { target: "native", rootFromOut: "../public" }));
    fs.mkdirSync(docroot, { mode: 0o755 });
    fs.writeFileSync(path.join(docroot, "index.php"), "<?php echo 'user app';\n");

    const addresses = nativeAddresses(t);
    url = (node, pathAndQuery) => {
      const a = addresses[node];
      if (a === undefined) throw new Error(node);
      return `http://127.0.0.1:${a.port}${pathAndQuery}`;
    };
    const root = process.getuid?.() === 0;
    for (const node of memcachedNodeNames(t)) {
      const port = String(addresses[node]?.port);
      fs.mkdirSync(path.join(state, node), { recursive: true });
      start(
        "memcached",
        [...(root ? ["-u", "memcache"] : []), "-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "16"],
        {},
        path.join(state, node, "memcached.log"),
      );
    }
    for (const node of appNodeNames(t)) {
      const app = appNodeEnv(state, out, node, docroot);
      app.env.PHPCLUSTER_PROBE_SECRET = SECRET;
      start(
        "apache2",
        ["-d", app.serverRoot, "-f", path.join(out, node, "httpd.conf"), "-DFOREGROUND"],
        app.env,
        path.join(app.serverRoot, "logs", "stdout.log"),
      );
    }
    const prefix = path.join(state, "lb");
    for (const sub of ["run", "logs", "temp"]) fs.mkdirSync(path.join(prefix, sub), { recursive: true });
    start(
      "nginx",
      ["-p", `${prefix}/`, "-c", path.join(out, "nginx/nginx.conf")],
      {},
      path.join(prefix, "stdout.log"),
    );

    for (const node of appNodeNames(t)) await waitFor(url(node, HEALTH_PATH));
    await waitFor(url("lb", HEALTH_PATH));
  });

  afterAll(async () => {
    for (const child of children) {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
    }
    const deadline = Date.now() + 5000;
    while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline) {
      await sleep(50);
    }
    for (const child of children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    removeDir(dir);
  });

  it("serves health through the balancer, naming the app node", async () => {
    const res = await fetch(url("lb", HEALTH_PATH));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { node: string; ok: boolean };
    expect(body.ok).toBe(true);
    expect(appNodeNames(t)).toContain(body.node);
    expect(res.headers.get("x-served-by")).toBe(body.node);
    expect(res.headers.get("server")).toBe("nginx");
    expect(res.headers.get("x-powered-by")).toBeNull();
  });

  it("answers the probe with a plain 404 without the secret", async () => {
    const attempts: Record<string, string>[] = [
      {},
      { [PROBE_SECRET_HEADER]: "wrong" },
      { [PROBE_SECRET_HEADER]: "" },
    ];
    for (const headers of attempts) {
      const res = await fetch(url("lb", PROBE_PATH), { headers });
      expect(res.status).toBe(404);
      expect(await res.text()).toBe("Not Found\n");
    }
  });

  it("reports the effective php.ini of every node", async () => {
    for (const node of appNodeNames(t)) {
      const res = await fetch(url(node, `${PROBE_PATH}?action=ini`), {
        headers: { [PROBE_SECRET_HEADER]: SECRET },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.getSetCookie()).toEqual([]);
      const body = (await res.json()) as {
        node: string;
        ini: Record<string, string>;
        extensions: Record<string, boolean>;
        loaded: string[];
        opcache: boolean;
        loadedIni: string;
        scanned: string | false;
      };
      expect(body.node).toBe(node);
      expect(body.ini["session.save_handler"]).toBe("memcached");
      expect(body.ini["memcached.sess_lock_retries"]).toBe("14");
      expect(body.extensions).toEqual({ memcached: true, igbinary: true, msgpack: true });
      // the distribution's php.ini and conf.d, then this node's php.ini, scanned last
      expect(body.loadedIni).toBe(`${apache2PhpDir()}/php.ini`);
      const scanned = String(body.scanned)
        .split(",")
        .map((f) => f.trim());
      expect(scanned[0]?.startsWith(`${apache2PhpDir()}/conf.d/`)).toBe(true);
      expect(scanned.at(-1)).toBe(path.join(out, node, "php.ini"));
      expect(body.loaded).toEqual(expect.arrayContaining(["memcached", "zend opcache"]));
      expect(body.opcache).toBe(true);
    }
  });

  it("shares one session between every app node through Memcached", async () => {
    const secret = { [PROBE_SECRET_HEADER]: SECRET };
    const first = await fetch(url("lb", `${PROBE_PATH}?nonce=abc123`), { headers: secret });
    expect(first.status).toBe(200);
    const cookie = first.headers.getSetCookie().find((c) => c.startsWith("PHPSESSID="));
    expect(cookie).toBeDefined();
    const sessionCookie = (cookie as string).split(";")[0] as string;
    const one = (await first.json()) as ProbeSession;
    expect(one).toMatchObject({ counter: 1, nonce: "abc123", saveHandler: "memcached" });
    expect(one.savePath).toBe(`127.0.0.1:${nativeAddresses(t).memcached1?.port}`);

    let counter = 1;
    for (const node of [...appNodeNames(t), "lb"]) {
      const res = await fetch(url(node, PROBE_PATH), { headers: { ...secret, cookie: sessionCookie } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as ProbeSession;
      counter += 1;
      expect(body.sessionId).toBe(one.sessionId);
      expect(body.counter).toBe(counter);
      expect(body.nonce).toBe("abc123");
      if (node !== "lb") expect(body.node).toBe(node);
    }
  });

  it("logs no PHP warning on any app node", () => {
    for (const node of appNodeNames(t)) {
      const log = fs.readFileSync(path.join(state, node, "logs", "error.log"), "utf8");
      expect(log).not.toMatch(/PHP (Warning|Fatal|Deprecated)|already loaded/);
    }
  });
});
