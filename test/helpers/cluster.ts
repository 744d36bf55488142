import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { runCli, tempDir } from "./cli.js";

function portFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * A base port with `count` consecutive free ports on loopback (the native runtime uses
 * base..base+count-1), below the kernel's ephemeral range (32768+) so that no outgoing
 * connection takes one of them between this check and the cluster's start.
 */
export async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (12000 - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free ports found`);
}

export interface TopologyOptions {
  name: string;
  port: number;
  replicas?: number;
  memcached?: number;
  sessionReplicas?: number;
  runtime?: "native" | "compose" | "auto";
  extra?: string;
}

/** Write a native topology and a docroot with a JSON counter page into dir. */
export function writeCluster(dir: string, o: TopologyOptions): string {
  mkdirSync(path.join(dir, "public"), { recursive: true });
  writeFileSync(
    path.join(dir, "public", "index.php"),
    "<?php session_start(); $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1; header('Content-Type: application/json');\n" +
      "echo json_encode(['node' => getenv('PHPCLUSTER_NODE'), 'n' => $_SESSION['n']]);\n",
  );
  const file = path.join(dir, "phpcluster.yml");
  writeFileSync(
    file,
    [
      `name: ${o.name}`,
      `runtime: ${o.runtime ?? "native"}`,
      "balancer:",
      `  port: ${o.port}`,
      "app:",
      `  replicas: ${o.replicas ?? 2}`,
      "sessions:",
      "  lockExpire: 2s",
      `  replicas: ${o.sessionReplicas ?? 0}`,
      "memcached:",
      `  nodes: ${o.memcached ?? 1}`,
      o.extra ?? "",
      "",
    ].join("\n"),
  );
  return file;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function get(
  port: number,
  urlPath: string,
  headers: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: "127.0.0.1", port, path: urlPath, headers, agent: false, timeout: timeoutMs },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** One session through the balancer: keeps the cookie between requests. */
export class CookieSession {
  cookie = "";
  constructor(
    readonly port: number,
    readonly cookieName = "PHPSESSID",
  ) {}

  async get(urlPath: string, headers: Record<string, string> = {}): Promise<Reply> {
    const reply = await get(this.port, urlPath, {
      ...headers,
      ...(this.cookie ? { Cookie: this.cookie } : {}),
    });
    for (const c of [reply.headers["set-cookie"] ?? []].flat()) {
      if (c.startsWith(`${this.cookieName}=`)) this.cookie = c.split(";")[0] ?? "";
    }
    return reply;
  }
}

export function readSecretOf(stateDir: string): string {
  return readFileSync(path.join(stateDir, "secret"), "utf8").trim();
}

interface Recorded {
  pid: number;
  pgid: number;
  startTime: number;
}

export function recordedProcesses(stateDir: string): Record<string, Recorded> {
  return JSON.parse(readFileSync(path.join(stateDir, "processes.json"), "utf8"));
}

/** Live (non-zombie) members of a process group, from /proc. */
export { groupMembers as liveGroupMembers } from "../../src/runtime/native/procfs.js";

/** A native cluster a test made: its folder, topology file, state folder and balancer port. */
export interface NativeCluster {
  dir: string;
  file: string;
  stateDir: string;
  port: number;
  cleanup: () => void;
}

/**
 * Native clusters for one test file: `make` writes a topology on a free block of loopback ports in
 * a fresh folder, `cli` runs phpcluster on it, `destroyAll` (for afterAll) destroys every cluster
 * still there and removes its folder.
 */
export function nativeClusters(prefix: string) {
  const made: NativeCluster[] = [];
  const cli = (m: NativeCluster, args: string[]) =>
    runCli([...args, "-f", m.file], { cwd: m.dir, timeout: 120_000 });
  return {
    cli,
    async make(
      name: string,
      o: { replicas?: number; memcached?: number; runtime?: "native" | "auto" } = {},
    ): Promise<NativeCluster> {
      const { dir, cleanup } = tempDir(`${prefix}-${name}-`);
      chmodSync(dir, 0o755); // Apache's workers run as www-data and must reach the document root
      const port = await freePortBlock(1 + (o.replicas ?? 2) + (o.memcached ?? 1));
      const file = writeCluster(dir, { name, port, ...o });
      const m = { dir, file, stateDir: path.join(dir, ".phpcluster", name), port, cleanup };
      made.push(m);
      return m;
    },
    async destroyAll(): Promise<void> {
      for (const m of made) {
        if (existsSync(m.stateDir)) await cli(m, ["destroy"]);
        m.cleanup();
      }
    },
  };
}
