import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import type { PortTaken } from "../../errors.js";

/** Is host:port free to listen on? Tries to bind and closes at once. */
export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE" || err.code === "EACCES") resolve(false);
      else reject(err);
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Ports among the wanted ones that are taken, with the node that wanted each and who holds it. */
export async function portsInUse(
  wanted: { node: string; host: string; port: number }[],
): Promise<PortTaken[]> {
  const taken: PortTaken[] = [];
  for (const w of wanted) {
    if (!(await portIsFree(w.host, w.port))) taken.push({ ...w, holder: portHolder(w.port) });
  }
  return taken;
}

/** Socket inodes listening on a TCP port, from /proc/net/tcp and tcp6. */
export function listeningInodes(port: number, tables = ["/proc/net/tcp", "/proc/net/tcp6"]): string[] {
  const inodes: string[] = [];
  for (const table of tables) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (!local || f[3] !== "0A") continue; // 0A: LISTEN
      const hexPort = local.slice(local.lastIndexOf(":") + 1);
      if (Number.parseInt(hexPort, 16) === port && f[9] && f[9] !== "0") inodes.push(f[9]);
    }
  }
  return inodes;
}

/**
 * The process that listens on a port, as `nginx (pid 123)`, where the system tells: /proc lists
 * the socket, and this user may read the owner's file descriptors. Undefined otherwise.
 */
export function portHolder(port: number): string | undefined {
  const inodes = new Set(listeningInodes(port).map((i) => `socket:[${i}]`));
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (inodes.has(target)) {
        let comm = "?";
        try {
          comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
        } catch {}
        return `${comm} (pid ${pid})`;
      }
    }
  }
  return undefined;
}
