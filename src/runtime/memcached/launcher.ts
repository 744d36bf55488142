/**
 * The memcached launcher: the process a memcached node runs as, on every runtime (a host process
 * under the native supervisor, the command of the memcached image). It starts memcached with a
 * restartable memory file (`-e`, on tmpfs), and it never lets a node come back empty (or stale)
 * while its peers hold sessions:
 *
 *   1. stage: start memcached on a spare loopback port, with the node's memory file (warm when the
 *      last stop was graceful, else empty), where no client can see it;
 *   2. fill it from the live peers: the session keys this node holds as primary or replica (the
 *      handler's own ketama placement), never lock keys, each from the copy the clients use while
 *      this node is away (the freshest); delta passes until small; keys the peers no longer have
 *      are deleted (confirmed with mg first: metadump can miss keys);
 *   3. watch the peers' writes from here on, stop staging with SIGUSR1 (it saves its memory), wait
 *      until the clock passes the stop second (a same-second start comes up cold), and start on
 *      the real address with the same file (a warm restart);
 *   4. a final CAS-guarded delta of what changed meanwhile, which never overwrites a newer write.
 *
 * It keeps watching its memcached: one that exits, is stopped (SIGSTOP) or stops answering is
 * killed and brought back the same way, so a node that was away never serves its old copies.
 * SIGUSR1 (the node's graceful stop) saves the memory file and exits; a SIGKILL of the node's
 * process group loses it (the next start fills the node from its peers).
 *
 * Dependency-free (node: modules only, Node 18+): the memcached image has Debian's nodejs, no npm.
 * Usage: node launcher.js <config.json>
 */
import { type ChildProcess, spawn } from "node:child_process";
import dns from "node:dns/promises";
import {
  chownSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { networkInterfaces } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { LauncherConfig } from "../../render/memcached.js";
import { type DumpEntry, type Item, McConnection, MutationWatch, STATUS_KEY } from "./client.js";
import { continuum, homeOf, lookup, oneAtATime, parseServer, type Server } from "./placement.js";

export type { LauncherConfig };

/** The longest the switch waits for the app nodes to reach a new address (swarm). */
const CLIENT_WAIT_MAX_MS = 4000;
/** The key an app node sets, on the memcached node at the address it uses for it, to that address (app-entry.sh). */
const VIEW_PREFIX = "phpcluster.view.";

export interface RecoveryReport {
  reason: string;
  /** Keys on the staging node when it started (a graceful stop's memory file). */
  restored: number;
  copied: number;
  deleted: number;
  deltaPasses: number;
  postDelta: number;
  /** Sessions copied from a peer once the requests that began while this node was away were done. */
  handedOver?: number;
  /** Session locks held during the switch to the real address (requests wait instead of reading stale copies). */
  locksHeld: number;
  /** Sessions whose lock another request held too long to wait for. */
  locksMissed: number;
  /** How long requests of those sessions waited for the switch. */
  holdMs: number;
  /**
   * swarm: how long the switch waited, its locks held, for every app node to reach this node's
   * new address (each app node learns it from Swarm's DNS on its own time), and those that had
   * not when the wait ended.
   */
  clientsWaitMs?: number;
  clientsMissing?: string[];
  /** From the start of the recovery (or the stop) until the real address answered. */
  awayMs: number;
  copyMs: number;
  cold: boolean;
  peers: string[];
}

export interface LauncherStatus {
  node: string;
  state: "starting" | "warming" | "serving" | "stopping";
  pid: number | undefined;
  items: number | undefined;
  since: string;
  lastRecovery: RecoveryReport | undefined;
  recoveries: number;
}

const SESSION_KEY = /^[A-Za-z0-9._-]{1,250}$/;
const log = (line: string) =>
  process.stdout.write(`${new Date().toISOString()} [launcher ${process.pid}] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The launcher's status as the item it keeps in its memcached (STATUS_KEY), never expiring. */
const statusItem = (status: LauncherStatus) => ({
  key: STATUS_KEY,
  value: Buffer.from(JSON.stringify(status)),
  flags: 0,
  ttl: -1,
});

/** Which of the listed session keys a node holds, and from which live server to copy each. */
export function planCopy(
  keys: Iterable<string>,
  opts: { servers: Server[]; index: number; replicas: number; prefix: string; live: boolean[] },
): Map<string, number> {
  const full = continuum(opts.servers);
  const away = continuum(
    opts.servers,
    opts.live.map((l, i) => l && i !== opts.index),
  );
  const plan = new Map<string, number>();
  if (!opts.live.some((l, i) => l && i !== opts.index)) return plan; // no peer to copy from
  for (const key of keys) {
    if (!key.startsWith(opts.prefix)) continue;
    const id = key.slice(opts.prefix.length);
    if (id.startsWith("lock.") || !SESSION_KEY.test(key)) continue; // locks are the live nodes' business
    const home = homeOf(id, opts.servers, opts.replicas, full);
    if (!home.includes(opts.index)) continue;
    // while this node is away, the clients read and write the key where the live ring puts it
    const primary = lookup(away, oneAtATime(id));
    const sources = [primary, ...home].filter((i) => i !== opts.index && opts.live[i]);
    if (sources[0] !== undefined) plan.set(key, sources[0]);
  }
  return plan;
}

interface HeldLock {
  server: number;
  key: string;
  cas: string | undefined;
}

interface Copying {
  dumps: Map<number, Map<string, DumpEntry>>;
  wanted: Map<string, number>;
}

/** memcached drops root for `-u <user>`: the memory file's directory must be that user's. */
function chownForMemcached(dir: string, args: string[]): void {
  const i = args.indexOf("-u");
  const user = i >= 0 ? args[i + 1] : undefined;
  if (!user || process.getuid?.() !== 0) return;
  const entry = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .map((l) => l.split(":"))
    .find((f) => f[0] === user);
  if (entry?.[2] && entry[3]) chownSync(dir, Number(entry[2]), Number(entry[3]));
}

/** The nodes placed on the task's own host, from the environment named by `hostEnv` (swarm). */
export function sameHostNodes(
  hostEnv: LauncherConfig["hostEnv"],
  env: Record<string, string | undefined>,
): Set<string> {
  const own = hostEnv ? env[hostEnv.task] : undefined;
  if (!hostEnv || !own) return new Set();
  return new Set(
    (env[hostEnv.placement] ?? "")
      .split(/\s+/)
      .map((pair) => pair.split("="))
      .filter(([node, host]) => node && host === own)
      .map(([node]) => node as string),
  );
}

/**
 * A lock on a node's memory file between launchers that cannot see each other's processes (two
 * tasks of one node on one host, in two containers): a file made with O_EXCL holding a random
 * token, its mtime renewed every second. One that is not renewed for 3 s belongs to a launcher
 * that was killed. Waits at most `waitMs` (longer than the old task's stop grace period).
 */
export class MemoryFileLock {
  private readonly token = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly file: string,
    private readonly staleMs = 3000,
    private readonly waitMs = 15_000,
  ) {}

  async acquire(): Promise<void> {
    const until = Date.now() + this.waitMs;
    let said = false;
    for (;;) {
      try {
        writeFileSync(this.file, this.token, { flag: "wx" });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      let age = 0;
      try {
        age = Date.now() - statSync(this.file).mtimeMs;
      } catch {
        continue; // gone meanwhile: try again at once
      }
      if (age > this.staleMs || Date.now() > until) {
        log(
          `taking over ${this.file} (${age > this.staleMs ? `not renewed for ${Math.round(age)} ms` : "waited too long"})`,
        );
        rmSync(this.file, { force: true });
        continue;
      }
      if (!said) log(`waiting for the other launcher of this node to leave ${this.file}`);
      said = true;
      await sleep(200);
    }
    this.timer = setInterval(() => {
      try {
        if (readFileSync(this.file, "utf8") === this.token) {
          const now = new Date();
          utimesSync(this.file, now, now);
        }
      } catch {
        // removed by a launcher that took it over: nothing to renew
      }
    }, 1000);
    this.timer.unref();
  }

  release(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      if (readFileSync(this.file, "utf8") === this.token) rmSync(this.file, { force: true });
    } catch {
      // not held
    }
  }
}

class Launcher {
  /** Set while the host is cut off (watchForCut): memcached is stopped on purpose. */
  private cutOff = false;
  /** Set when a cut ended: the watch loop brings the node back as a returning node. */
  private cutReturned = false;
  private child: ChildProcess | undefined;
  private staging: ChildProcess | undefined;
  private childExit: Promise<number | null> | undefined;
  private status: LauncherStatus;
  private stopping = false;
  private holdStarted = 0;
  private lastCopied: string[] = [];
  private readonly servers: Server[];
  private readonly memoryFileLock: MemoryFileLock;
  /** The last address each peer's and witness's name resolved to (see addressOf). */
  private readonly lastAddress = new Map<string, string>();
  /** The value of the hand-over locks this launcher places (see placeHandoverLocks). */
  private readonly handoverToken =
    `phpcluster-handover-${process.pid}-${Math.random().toString(36).slice(2)}`;
  /** Peers and witnesses that run on this task's own host (swarm): they say nothing about a cut. */
  private readonly sameHost: Set<string>;

  constructor(private readonly config: LauncherConfig) {
    this.servers = config.servers.map(parseServer);
    this.sameHost = sameHostNodes(config.hostEnv, process.env);
    this.memoryFileLock = new MemoryFileLock(`${config.memoryFile}.lock`);
    this.status = {
      node: config.node,
      state: "starting",
      pid: undefined,
      items: undefined,
      since: new Date().toISOString(),
      lastRecovery: undefined,
      recoveries: 0,
    };
  }

  private writeStatus(patch: Partial<LauncherStatus>): void {
    this.status = { ...this.status, ...patch };
    // a change of state goes to the status key at once; a new item count (every 100 ms under
    // load) at most once a second, from the watch loop
    this.mirrorDue = true;
    if (Object.keys(patch).some((k) => k !== "items")) this.mirrorStatus();
    const tmp = `${this.config.statusFile}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(this.status, null, 2)}\n`);
      renameSync(tmp, this.config.statusFile);
    } catch (err) {
      log(`cannot write ${this.config.statusFile}: ${(err as Error).message}`);
    }
  }

  private mirroring = false;
  private mirrorAgain = false;
  /** The status key is behind the status (not written yet, or the write failed: a stale `warming` there would never end). */
  private mirrorDue = false;
  private mirroredAt = 0;

  /** The status into STATUS_KEY on the node's own memcached, when it answers: one write at a time, the last one wins. */
  private mirrorStatus(): void {
    if (this.mirroring) {
      this.mirrorAgain = true;
      return;
    }
    this.mirroring = true;
    void (async () => {
      try {
        do {
          this.mirrorAgain = false;
          this.mirrorDue = false;
          const c = await new McConnection(this.config.probe.host, this.config.probe.port, 1000).connect();
          try {
            await c.set(statusItem(this.status));
          } finally {
            c.close();
          }
        } while (this.mirrorAgain);
        this.mirroredAt = Date.now();
      } catch {
        this.mirrorDue = true; // not answering (starting, stopped): written again once it does
      } finally {
        this.mirroring = false;
      }
    })();
  }

  /**
   * A start in the same second as the last stop comes up cold (memcached compares its clock with
   * the stop_time the memory file's .meta records): wait until the clock has passed it.
   */
  private async pastStopTime(): Promise<void> {
    let meta: string;
    try {
      meta = readFileSync(`${this.config.memoryFile}.meta`, "utf8");
    } catch {
      return;
    }
    const stop = Number(/stop_time\s+(\d+)/.exec(meta)?.[1] ?? 0);
    const wait = (stop + 1) * 1000 - Date.now() + 10;
    if (wait > 0) await sleep(Math.min(wait, 2000));
  }

  private spawnMemcached(address: { host: string; port: number }): ChildProcess {
    const args = [
      ...this.config.args,
      "-l",
      address.host,
      "-p",
      String(address.port),
      "-e",
      this.config.memoryFile,
    ];
    const child = spawn(this.config.memcached, args, { stdio: ["ignore", "inherit", "inherit"] });
    log(`started memcached (pid ${child.pid}) on ${address.host}:${address.port}`);
    return child;
  }

  private async ready(
    address: { host: string; port: number },
    child: ChildProcess,
    timeoutMs = 10_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`memcached exited (${child.signalCode ?? child.exitCode})`);
      try {
        const c = await new McConnection(address.host, address.port, 500).connect();
        await c.version();
        c.close();
        return;
      } catch {}
      if (Date.now() > deadline)
        throw new Error(`memcached did not answer on ${address.host}:${address.port}`);
      await sleep(20);
    }
  }

  /** Stop a memcached gracefully: SIGUSR1 saves the memory file; a connection wakes its event loop. */
  private async saveAndStop(child: ChildProcess, address: { host: string; port: number }): Promise<number> {
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
    child.kill("SIGUSR1");
    const poke = net.connect({ host: address.host, port: address.port });
    poke.on("error", () => {});
    const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    poke.destroy();
    if (!done) {
      log("memcached did not exit within 5 s of SIGUSR1: SIGKILL (its memory file is lost)");
      child.kill("SIGKILL");
      await exited;
    }
    return Date.now();
  }

  private async livePeers(): Promise<boolean[]> {
    return Promise.all(
      this.servers.map(async (s, i) => {
        if (i === this.config.index) return false;
        try {
          const c = await new McConnection(s.host, s.port, 300).connect();
          await c.version();
          c.close();
          return true;
        } catch {
          return false;
        }
      }),
    );
  }

  /** The session keys the live peers hold (union), with the cas each source has. */
  private async sourceDumps(live: boolean[]): Promise<Map<number, Map<string, DumpEntry>>> {
    const out = new Map<number, Map<string, DumpEntry>>();
    await Promise.all(
      this.servers.map(async (s, i) => {
        if (!live[i]) return;
        const c = await new McConnection(s.host, s.port, 5000).connect();
        try {
          const entries = await c.dump();
          out.set(
            i,
            new Map(entries.filter((e) => e.key.startsWith(this.config.prefix)).map((e) => [e.key, e])),
          );
        } finally {
          c.close();
        }
      }),
    );
    return out;
  }

  /** Copy keys from their sources into `target`; with `guarded`, never over a newer write there. */
  private async copy(
    target: McConnection,
    keys: Map<string, number>,
    opts: { guarded: boolean },
  ): Promise<{ copied: number; deleted: number }> {
    let copied = 0;
    let deleted = 0;
    const bySource = new Map<number, string[]>();
    for (const [key, source] of keys) bySource.set(source, [...(bySource.get(source) ?? []), key]);
    for (const [source, list] of bySource) {
      const s = this.servers[source] as Server;
      const from = await new McConnection(s.host, s.port, 5000).connect();
      try {
        for (let i = 0; i < list.length; i += 200) {
          const batch = list.slice(i, i + 200);
          const [theirs, ours] = await Promise.all([
            from.getMany(batch),
            opts.guarded ? target.getMany(batch) : Promise.resolve(new Map<string, Item>()),
          ]);
          const writes: Promise<void>[] = [];
          for (const key of batch) {
            const item = theirs.get(key);
            const mine = ours.get(key);
            if (!item) {
              // gone at the source (destroyed or expired): delete our copy, if it is still the one we saw
              if (!opts.guarded || mine) {
                writes.push(
                  target.delete(key, mine?.cas).then((r) => {
                    if (r === "HD") deleted++;
                  }),
                );
              }
              continue;
            }
            if (mine?.value.equals(item.value) && mine.flags === item.flags) continue;
            writes.push(
              target.set(item, opts.guarded ? (mine ? { cas: mine.cas } : { add: true }) : {}).then((r) => {
                if (r === "HD") {
                  copied++;
                  if (opts.guarded)
                    this.lastCopied.push(key.slice(this.config.prefix.length, this.config.prefix.length + 8));
                }
              }),
            );
          }
          await Promise.all(writes);
        }
      } finally {
        from.close();
      }
    }
    return { copied, deleted };
  }

  private planFor(dumps: Map<number, Map<string, DumpEntry>>, live: boolean[]): Map<string, number> {
    const keys = new Set<string>();
    for (const d of dumps.values()) for (const k of d.keys()) keys.add(k);
    return planCopy(keys, {
      servers: this.servers,
      index: this.config.index,
      replicas: this.config.replicas,
      prefix: this.config.prefix,
      live,
    });
  }

  /** Fill a staging node from the live peers: a full pass, then deltas until few keys change. */
  private async fill(staging: McConnection, live: boolean[], report: RecoveryReport): Promise<Copying> {
    const t0 = Date.now();
    const dumps = await this.sourceDumps(live);
    const wanted = this.planFor(dumps, live);
    // what the staging node holds already (a graceful stop's memory): locks go (a restored lock
    // would block its session); copies the peers no longer hold are confirmed gone, then deleted
    for (const e of await staging.dump()) {
      if (!e.key.startsWith(this.config.prefix) || wanted.has(e.key)) continue;
      if (e.key.slice(this.config.prefix.length).startsWith("lock.")) {
        await staging.delete(e.key);
        continue;
      }
      const source = [
        ...planCopy([e.key], {
          servers: this.servers,
          index: this.config.index,
          replicas: this.config.replicas,
          prefix: this.config.prefix,
          live,
        }).values(),
      ][0];
      if (source !== undefined) wanted.set(e.key, source);
    }
    const r = await this.copy(staging, wanted, { guarded: false });
    report.copied += r.copied;
    report.deleted += r.deleted;
    const state: Copying = { dumps, wanted };
    for (let pass = 0; pass < 8; pass++) if ((await this.delta(staging, live, state, report)) < 20) break;
    report.copyMs = Date.now() - t0;
    return state;
  }

  /** One delta pass into the staging node: what changed at the sources since the last pass. Returns the count. */
  private async delta(
    staging: McConnection,
    live: boolean[],
    state: Copying,
    report: RecoveryReport,
  ): Promise<number> {
    const next = await this.sourceDumps(live);
    const all = this.planFor(next, live);
    const changed = new Map<string, number>();
    for (const [key, source] of all) {
      const before = state.dumps.get(source)?.get(key);
      if (!before || before.cas !== next.get(source)?.get(key)?.cas) changed.set(key, source);
    }
    for (const [key, source] of state.wanted) if (!all.has(key)) changed.set(key, source); // gone since: confirm and delete
    state.dumps = next;
    state.wanted = all;
    report.deltaPasses++;
    if (changed.size === 0) return 0;
    const r = await this.copy(staging, changed, { guarded: false });
    report.copied += r.copied;
    report.deleted += r.deleted;
    return changed.size;
  }

  /** Copy what the watched peers were written since the last call (guarded: never over newer writes here). */
  private async drain(
    target: McConnection,
    watches: MutationWatch[],
    full: boolean,
    own?: MutationWatch,
  ): Promise<{ copied: number; deleted: number }> {
    const keys = new Set<string>();
    for (const w of watches) {
      for (const k of w.keys) keys.add(k);
      w.keys.clear();
    }
    if (own && keys.size > 0) {
      // serving again: the clients write every copy, this one too. A key written here lately was
      // written by such a request, and the peer may not have its write yet (the clients write the
      // primary first): copying the peer's then would put an older session over a newer one.
      await sleep(20);
      const recent = Date.now() - 2000;
      for (const k of keys) if ((own.seen.get(k) ?? 0) >= recent) keys.delete(k);
    }
    const lossy = watches.some((w) => w.lossy);
    this.lastCopied = [];
    const live = await this.livePeers();
    const opts = {
      servers: this.servers,
      index: this.config.index,
      replicas: this.config.replicas,
      prefix: this.config.prefix,
      live,
    };
    let plan = planCopy(keys, opts);
    if (lossy && full) {
      const dumps = await this.sourceDumps(live);
      const all = new Set<string>();
      for (const d of dumps.values()) for (const k of d.keys()) all.add(k);
      plan = planCopy(all, opts);
    }
    return plan.size === 0 ? { copied: 0, deleted: 0 } : this.copy(target, plan, { guarded: true });
  }

  /** Keep draining the peers' writes into this node for a while after it is back, then stop watching. */
  private async settle(watches: MutationWatch[], ms: number): Promise<void> {
    const end = Date.now() + ms;
    let target: McConnection | undefined;
    const own = new MutationWatch(this.config.probe.host, this.config.probe.port);
    try {
      target = await new McConnection(this.config.probe.host, this.config.probe.port, 5000).connect();
      await own.start();
      while (Date.now() < end && !this.stopping) {
        const r = await this.drain(target, watches, false, own);
        if (r.copied > 0 && this.status.lastRecovery) this.status.lastRecovery.copied += r.copied;
        // rare, and what to look for when a session read stale after a return: which keys, when
        if (r.copied > 0) log(`settle copied ${r.copied} [${this.lastCopied.join(" ")}]`);
        await sleep(3);
      }
    } catch (err) {
      log(`copying the peers' late writes stopped: ${(err as Error).message}`);
    } finally {
      target?.close();
      own.stop();
      for (const w of watches) w.stop();
    }
  }

  /** Bring the node up on its real address without ever serving it empty or stale. */
  private async recover(reason: string): Promise<void> {
    const t0 = Date.now();
    const report: RecoveryReport = {
      reason,
      restored: 0,
      copied: 0,
      deleted: 0,
      deltaPasses: 0,
      postDelta: 0,
      locksHeld: 0,
      locksMissed: 0,
      holdMs: 0,
      awayMs: 0,
      copyMs: 0,
      cold: false,
      peers: [],
    };
    this.writeStatus({ state: "warming", pid: undefined });
    const live = await this.livePeers();
    report.peers = this.config.servers.filter((_, i) => live[i]);
    const canCopy = this.config.replicas > 0 && live.some(Boolean);
    let watches: MutationWatch[] = [];
    let locks: HeldLock[] = [];
    let handover: string[] = [];
    let staged = 0;
    if (canCopy) {
      await this.pastStopTime();
      const port = await freePort(this.config.stagingHost);
      const address = { host: this.config.stagingHost, port };
      const child = this.spawnMemcached(address);
      this.staging = child;
      try {
        await this.ready(address, child);
        const staging = await new McConnection(address.host, address.port, 5000).connect();
        try {
          report.restored = Number((await staging.stats()).curr_items ?? 0);
          const state = await this.fill(staging, live, report);
          // from here on, every write to a peer is noted, for the final delta
          watches = this.servers
            .map((s, i) => (live[i] ? new MutationWatch(s.host, s.port) : undefined))
            .filter((w): w is MutationWatch => w !== undefined);
          await Promise.all(watches.map((w) => w.start()));
          // SIGUSR1 late in a second, so that the wait for the next second (a same-second start
          // comes up cold) is short; a last delta just before it
          const ms = Date.now() % 1000;
          if (ms < 600) await sleep(600 - ms);
          // hold every session's lock where the clients take it: no request reads or writes
          // them from here until this node serves them, so nothing is written where it cannot
          // see it and nothing stale is read once it is back
          locks = await this.holdLocks(state.wanted.keys(), live, report);
          await this.delta(staging, live, state, report);
          // the locks the clients take here once this node is back, put in before it is: they
          // are in its memory from the first moment its real port opens (see handOver)
          handover = await this.placeHandoverLocks(staging, state.wanted.keys(), live);
          // its memory file becomes the node's: the real port opens saying warming, not the last life's serving
          await staging.set(statusItem({ ...this.status, state: "warming" }));
          staged = Number((await staging.stats()).curr_items ?? 0);
        } finally {
          staging.close();
        }
        const exitedAt = await this.saveAndStop(child, address);
        await sleep(1000 - (exitedAt % 1000) + 10);
      } catch (err) {
        child.kill("SIGKILL");
        for (const w of watches) w.stop();
        await this.releaseLocks(locks, report);
        throw err;
      } finally {
        this.staging = undefined;
      }
    }
    await this.pastStopTime();
    const child = this.start();
    await this.ready(this.config.probe, child);
    const live2 = await new McConnection(this.config.probe.host, this.config.probe.port, 5000).connect();
    try {
      const items = Number((await live2.stats()).curr_items ?? 0);
      if (canCopy && staged > 0 && items < Math.floor(staged * 0.9)) {
        // came up cold: kill it at once (its peers serve meanwhile) and start over
        report.cold = true;
        log(`memcached came up with ${items} of ${staged} items (cold): killing it and starting over`);
        child.kill("SIGKILL");
        for (const w of watches) w.stop();
        await this.releaseLocks(locks, report);
        throw new Error("cold start");
      }
      report.awayMs = Date.now() - t0;
      if (canCopy && locks.length + handover.length > 0 && this.config.clients?.length)
        await this.awaitClients(live2, report);
      if (canCopy) {
        // the final delta: what the peers were written meanwhile, without overwriting newer writes here
        const r = await this.drain(live2, watches, true).catch(async (err) => {
          await this.releaseLocks(locks, report);
          throw err;
        });
        report.postDelta = r.copied + r.deleted;
        report.copied += r.copied;
        report.deleted += r.deleted;
        report.handedOver = await this.handOver(live2, locks, handover, report);
        // requests that began while this node was away keep it out of their ring until they end:
        // their writes reach only the peers. Keep copying those, until no such request can be left.
        void this.settle(watches, (this.config.lockExpire + 8) * 1000);
      }
      this.writeStatus({
        state: "serving",
        pid: child.pid,
        items,
        lastRecovery: report,
        recoveries: this.status.recoveries + 1,
        since: new Date().toISOString(),
      });
      log(`serving: ${JSON.stringify(report)}`);
    } finally {
      live2.close();
    }
  }

  /**
   * swarm: while the sessions' locks are held (no request reads or writes them), wait until every
   * app node that runs has announced this node's new address here (app-entry.sh sets
   * `phpcluster.view.<app node>` to the address it uses, on the node at that address). An app node that still has
   * the old address writes to the peers only, and the next request of that session, from an app
   * node that has the new one, would read the copy here: stale (measured in the swarm e2e: 10 stale
   * reads in 3,695 requests). Bounded, so the held locks never expire meanwhile.
   */
  private async awaitClients(target: McConnection, report: RecoveryReport): Promise<void> {
    const t0 = Date.now();
    const budget = Math.min(
      CLIENT_WAIT_MAX_MS,
      this.config.lockExpire * 1000 - (t0 - this.holdStarted) - 1500,
    );
    const deadline = t0 + Math.max(0, budget);
    const own = new Set(
      Object.values(networkInterfaces())
        .flat()
        .map((a) => a?.address),
    );
    // an app node that does not resolve runs no task: it sends no request, so it is not waited for
    const expected = (
      await Promise.all(
        (this.config.clients ?? []).map(async (name) => ((await this.addressOf(name)) ? name : undefined)),
      )
    ).filter((n): n is string => n !== undefined);
    const key = (name: string) => `${VIEW_PREFIX}${name}`;
    let missing = expected;
    for (;;) {
      const views = await target.getMany(expected.map(key)).catch(() => new Map<string, Item>());
      missing = expected.filter((n) => !own.has(views.get(key(n))?.value.toString() ?? ""));
      if (missing.length === 0 || Date.now() >= deadline || this.stopping) break;
      await sleep(50);
    }
    report.clientsWaitMs = Date.now() - t0;
    report.clientsMissing = missing;
    if (missing.length > 0)
      log(`${missing.join(", ")} had not announced this node's address after ${report.clientsWaitMs} ms`);
  }

  /**
   * Take each session's lock (the key php-memcached ADDs, "<prefix>lock.<id>") where the clients
   * take it while this node is away; a lock a request holds is waited for (a request holds it
   * until it has written), up to lockExpire.
   */
  private async holdLocks(
    keys: Iterable<string>,
    live: boolean[],
    report: RecoveryReport,
    opts: { includeSelf?: boolean; waitMs?: number } = {},
  ): Promise<HeldLock[]> {
    if (!this.config.locking) return [];
    const away = continuum(
      this.servers,
      live.map((l, i) => (i === this.config.index ? Boolean(opts.includeSelf) : l)),
    );
    const byServer = new Map<number, string[]>();
    for (const key of keys) {
      const id = `lock.${key.slice(this.config.prefix.length)}`;
      const server = lookup(away, oneAtATime(id));
      byServer.set(server, [...(byServer.get(server) ?? []), `${this.config.prefix}${id}`]);
    }
    const held: HeldLock[] = [];
    const t0 = Date.now();
    const deadline = t0 + (opts.waitMs ?? this.config.lockExpire * 1000 + 500);
    await Promise.all(
      [...byServer].map(async ([server, keys]) => {
        const s = this.servers[server] as Server;
        const c = await new McConnection(s.host, s.port, 5000).connect();
        try {
          let pending = keys;
          while (pending.length > 0 && Date.now() < deadline) {
            const results = await Promise.all(
              pending.map((key) =>
                c
                  .store(
                    { key, value: Buffer.from("1"), flags: 0, ttl: this.config.lockExpire },
                    { add: true },
                  )
                  .then((r) => ({ key, r })),
              ),
            );
            pending = results.filter((x) => x.r.code !== "HD").map((x) => x.key);
            for (const x of results) if (x.r.code === "HD") held.push({ server, key: x.key, cas: x.r.cas });
            if (pending.length > 0) await sleep(20);
          }
          report.locksMissed += pending.length;
        } finally {
          c.close();
        }
      }),
    );
    report.locksHeld = held.length;
    this.holdStarted = t0;
    return held;
  }

  /**
   * Before the switch: in the staging node, the lock of every session whose lock lives on this
   * node once it is back (the clients' full ring), holding a token of this launcher. Restored
   * with the memory file, they hold new requests from the first moment the real port opens.
   */
  private async placeHandoverLocks(
    staging: McConnection,
    keys: Iterable<string>,
    live: boolean[],
  ): Promise<string[]> {
    if (!this.config.locking) return [];
    const self = this.config.index;
    const full = continuum(
      this.servers,
      live.map((l, i) => l || i === self),
    );
    const lockKeys: string[] = [];
    for (const key of keys) {
      const id = `lock.${key.slice(this.config.prefix.length)}`;
      if (lookup(full, oneAtATime(id)) === self) lockKeys.push(`${this.config.prefix}${id}`);
    }
    const placed = await Promise.all(
      lockKeys.map((key) =>
        staging
          .store(
            { key, value: Buffer.from(this.handoverToken), flags: 0, ttl: this.config.lockExpire },
            { add: true },
          )
          .then((r) => (r.code === "HD" ? key : undefined)),
      ),
    );
    return placed.filter((k): k is string => k !== undefined);
  }

  /** Delete the hand-over locks that still hold this launcher's token. */
  private async releaseHandoverLocks(target: McConnection, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const items = await target.getMany(keys);
    await Promise.all(
      keys.map((k) => {
        const item = items.get(k);
        return item && item.value.toString() === this.handoverToken ? target.delete(k, item.cas) : undefined;
      }),
    );
  }

  /**
   * The switch's last step. Requests that began while this node was away keep it out of their
   * ring: they waited for a held lock on a peer (or, when their lock's server refused them, went
   * on without one), and they read and write the session on the peers only, while the next
   * request of that session reads it here. The hand-over locks placed before the switch hold the
   * new requests here meanwhile: let the waiters on the peers go; after one lock_wait_max (a
   * waiter retries at most that far apart) and once a session's lock on the peer is free again
   * (its last old-ring request wrote and left), copy the session from the peer and free it here.
   */
  private async handOver(
    target: McConnection,
    peerLocks: HeldLock[],
    mine: string[],
    report: RecoveryReport,
  ): Promise<number> {
    const self = this.config.index;
    const lockPrefix = `${this.config.prefix}lock.`;
    const dataKey = (lockKey: string) => `${this.config.prefix}${lockKey.slice(lockPrefix.length)}`;
    const holdStarted = this.holdStarted;
    const peerOf = new Map(peerLocks.map((l) => [l.key, l.server]));
    await this.releaseLocks(peerLocks, report);
    if (mine.length === 0) return 0;
    let handed = 0;
    let pending = mine;
    try {
      await sleep(600);
      const deadline = Date.now() + this.config.lockExpire * 1000;
      while (pending.length > 0 && !this.stopping) {
        const byPeer = new Map<number, string[]>();
        const orphans: string[] = [];
        for (const k of pending) {
          const peer = peerOf.get(k);
          if (peer === undefined || peer === self) orphans.push(k);
          else byPeer.set(peer, [...(byPeer.get(peer) ?? []), k]);
        }
        const free: [string, number][] = [];
        const busy: string[] = [];
        await Promise.all(
          [...byPeer].map(async ([peer, list]) => {
            const s = this.servers[peer] as Server;
            const c = await new McConnection(s.host, s.port, 2000).connect();
            try {
              const held = await c.getMany(list);
              for (const k of list) {
                if (held.has(k) && Date.now() < deadline) busy.push(k);
                else free.push([k, peer]);
              }
            } finally {
              c.close();
            }
          }),
        );
        if (free.length > 0) {
          const plan = new Map(free.map(([k, peer]) => [dataKey(k), peer]));
          const r = await this.copy(target, plan, { guarded: true });
          handed += r.copied;
          await this.releaseHandoverLocks(
            target,
            free.map(([k]) => k),
          );
        }
        await this.releaseHandoverLocks(target, orphans);
        pending = busy;
        if (pending.length > 0) await sleep(20);
      }
    } catch (err) {
      log(`the hand-over stopped: ${(err as Error).message}`);
    } finally {
      await this.releaseHandoverLocks(target, pending).catch(() => undefined);
      report.holdMs = Date.now() - holdStarted;
    }
    return handed;
  }

  private async releaseLocks(locks: HeldLock[], report: RecoveryReport): Promise<void> {
    if (locks.length === 0) return;
    const byServer = new Map<number, HeldLock[]>();
    for (const l of locks) byServer.set(l.server, [...(byServer.get(l.server) ?? []), l]);
    await Promise.all(
      [...byServer].map(async ([server, held]) => {
        const s = this.servers[server] as Server;
        try {
          const c = await new McConnection(s.host, s.port, 5000).connect();
          // only our own lock (its cas): one that expired and was taken by a request stays
          await Promise.all(held.map((l) => c.delete(l.key, l.cas)));
          c.close();
        } catch (err) {
          log(
            `could not release the session locks on ${s.host}:${s.port} (they expire in ${this.config.lockExpire} s): ${(err as Error).message}`,
          );
        }
      }),
    );
    report.holdMs = Date.now() - this.holdStarted;
    locks.length = 0;
  }

  private start(): ChildProcess {
    const child = this.spawnMemcached(this.config.listen);
    this.child = child;
    this.childExit = new Promise((resolve) =>
      child.once("exit", (code, signal) => resolve(signal ? 128 : code)),
    );
    return child;
  }

  async run(): Promise<void> {
    mkdirSync(path.dirname(this.config.memoryFile), { recursive: true });
    chownForMemcached(path.dirname(this.config.memoryFile), this.config.args);
    if (this.config.memoryLock) await this.memoryFileLock.acquire();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.recover(attempt === 0 ? "start" : "retry");
        break;
      } catch (err) {
        log(`recovery failed: ${(err as Error).message}`);
        if (this.stopping) return;
        this.child?.kill("SIGKILL");
        await sleep(Math.min(2000, 200 * (attempt + 1)));
      }
    }
    void this.watch();
  }

  /**
   * Is the node's own address (as the clients know it) on this host? Always for loopback (the
   * native runtime); in a container, its interface on the cluster network goes when the
   * container is disconnected from it.
   */
  private ownAddressPresent(): boolean {
    const host = this.servers[this.config.index]?.host ?? "";
    if (host === "localhost" || host.startsWith("127.") || host === "::1" || net.isIP(host) === 0)
      return true;
    return Object.values(networkInterfaces())
      .flat()
      .some((a) => a?.address === host);
  }

  /**
   * A target's address, looked up apart from the connect (a slow DNS answer says nothing about
   * the network): the last one known when the lookup fails or takes over 1.5 s.
   */
  private async addressOf(host: string): Promise<string | undefined> {
    if (net.isIP(host) !== 0) return host;
    const found = await Promise.race([
      dns.lookup(host, { family: 4 }).then(
        (r) => r.address,
        () => undefined,
      ),
      sleep(1500).then(() => undefined),
    ]);
    if (found) this.lastAddress.set(host, found);
    return found ?? this.lastAddress.get(host);
  }

  /**
   * Does anything on another host answer? Every peer and witness not on this host is tried at once, 700 ms each: a
   * connection, or even a refusal, is an answer; a name never resolved says nothing. False
   * only when something was tried and nothing answered at all (a black hole: this host is cut off).
   */
  private async othersAnswer(): Promise<boolean | undefined> {
    const targets = [
      ...this.servers.filter((_, i) => i !== this.config.index),
      ...(this.config.witnesses ?? []),
    ].filter((t) => !this.sameHost.has(t.host));
    if (targets.length === 0) return undefined;
    const results = await Promise.all(
      targets.map(
        (t) =>
          new Promise<"answer" | "silent" | "unknown">((resolve) => {
            void this.addressOf(t.host).then((address) => {
              if (!address) return resolve("unknown");
              const socket = net.connect({ host: address, port: t.port });
              const done = (r: "answer" | "silent" | "unknown") => {
                socket.destroy();
                resolve(r);
              };
              socket.setTimeout(700, () => done("silent"));
              socket.once("connect", () => done("answer"));
              socket.once("error", (err: NodeJS.ErrnoException) =>
                done(err.code === "ECONNREFUSED" || err.code === "ECONNRESET" ? "answer" : "silent"),
              );
            });
          }),
      ),
    );
    if (results.includes("answer")) return true;
    return results.includes("silent") ? false : undefined;
  }

  /**
   * With witnesses (swarm): a host cut off from the others (its link down) keeps its address, so
   * ownAddressPresent cannot see it. Nothing on another host answering within 700 ms, after
   * something did, means cut off: the clients on the other hosts write to the peers meanwhile, so
   * the node saves and stops, and returns as a returning node once others answer again.
   */
  private async watchForCut(): Promise<void> {
    if (!this.config.witnesses?.length) return;
    let answeredOnce = false;
    let silentRounds = 0;
    while (!this.stopping) {
      await sleep(500);
      const child = this.child;
      if (!child || this.status.state !== "serving") continue;
      const answer = await this.othersAnswer();
      if (answer === true) {
        answeredOnce = true;
        silentRounds = 0;
        continue;
      }
      if (answer === undefined || !answeredOnce) {
        silentRounds = 0;
        continue;
      }
      // two silent rounds (about 2.5 s): one can be a busy moment of this host; the clients on the
      // other hosts write to the peers from their first failed connect on, and a cut shorter
      // than this goes unnoticed (the bench measures what that costs)
      if (++silentRounds < 2) continue;
      silentRounds = 0;
      log("nothing on another host answers: this host is cut off; stopping until it is back");
      this.cutOff = true;
      this.writeStatus({ state: "warming", pid: undefined });
      await this.saveAndStop(child, this.config.probe);
      while (!this.stopping && (await this.othersAnswer()) !== true) await sleep(500);
      this.cutOff = false;
      this.cutReturned = true;
    }
  }

  /** Watch memcached: gone, stopped or silent means away: kill it and bring it back without stale data. */
  private async watch(): Promise<void> {
    let last = Date.now();
    let silent = 0;
    void this.watchForCut();
    while (!this.stopping) {
      await sleep(100);
      const now = Date.now();
      const child = this.child;
      if (!child || this.stopping) continue;
      let reason: string | undefined;
      if (now - last > 2000) reason = `the launcher was frozen for ${now - last} ms`;
      last = now;
      if (this.cutOff) continue;
      if (this.cutReturned) {
        this.cutReturned = false;
        reason = "the host was cut off from the others";
      }
      if (!this.ownAddressPresent()) {
        // cut off (its network gone, as with `docker network disconnect`): the clients write to
        // the peers meanwhile, so what this node holds will be old when it is back. Save it and
        // stop; come back as a returning node once the address is here again.
        log(
          `${this.servers[this.config.index]?.host} is gone from this host: cut off; stopping until it is back`,
        );
        this.writeStatus({ state: "warming", pid: undefined });
        await this.saveAndStop(child, this.config.probe);
        while (!this.stopping && !this.ownAddressPresent()) await sleep(100);
        if (this.stopping) return;
        reason = "the node was cut off from its network";
      }
      if (child.exitCode !== null || child.signalCode !== null)
        reason ??= `memcached exited (${child.signalCode ?? child.exitCode})`;
      else if (processState(child.pid) === "T") reason ??= "memcached was stopped (SIGSTOP)";
      else {
        try {
          const c = await new McConnection(this.config.probe.host, this.config.probe.port, 500).connect();
          const stats = await c.stats();
          c.close();
          silent = 0;
          const items = Number(stats.curr_items ?? 0);
          if (items !== this.status.items) this.writeStatus({ items });
          if (this.mirrorDue && Date.now() - this.mirroredAt >= 1000) this.mirrorStatus();
        } catch {
          silent++;
          if (silent >= 3) reason ??= "memcached stopped answering";
        }
      }
      if (!reason || this.stopping) continue;
      log(`${reason}: it may hold old copies; killing it and bringing it back from its peers`);
      child.kill("SIGKILL");
      await this.childExit;
      silent = 0;
      for (let attempt = 0; !this.stopping; attempt++) {
        try {
          await this.recover(reason);
          break;
        } catch (err) {
          log(`recovery failed: ${(err as Error).message}`);
          this.child?.kill("SIGKILL");
          await sleep(Math.min(2000, 200 * (attempt + 1)));
        }
      }
      last = Date.now();
    }
  }

  /** The node's graceful stop: save the memory file and exit. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.writeStatus({ state: "stopping" });
    this.staging?.kill("SIGKILL");
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      // hold the sessions' locks while this node goes: requests in flight finish writing here and
      // on the replica, and the next ones wait, then read the replica, which has every write
      const report = this.status.lastRecovery ?? ({} as RecoveryReport);
      let locks: HeldLock[] = [];
      try {
        const live = await this.livePeers();
        if (this.config.replicas > 0 && live.some(Boolean)) {
          const own = await new McConnection(this.config.probe.host, this.config.probe.port, 3000).connect();
          const keys = (await own.dump())
            .map((e) => e.key)
            .filter(
              (k) =>
                k.startsWith(this.config.prefix) && !k.slice(this.config.prefix.length).startsWith("lock."),
            );
          own.close();
          locks = await this.holdLocks(keys, live, report, {
            includeSelf: true,
            waitMs: Math.min(3000, this.config.lockExpire * 1000),
          });
        }
      } catch (err) {
        log(`could not hold the session locks for the stop: ${(err as Error).message}`);
      }
      await this.saveAndStop(child, this.config.probe);
      // the ones held here went with this node (and its memory file; the next start drops them)
      await this.releaseLocks(
        locks.filter((l) => l.server !== this.config.index),
        report,
      );
    }
    this.memoryFileLock.release();
    process.exit(0);
  }
}

function processState(pid: number | undefined): string | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen({ host, port: 0 }, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function main(configFile: string): Promise<void> {
  const config = JSON.parse(readFileSync(configFile, "utf8")) as LauncherConfig;
  const launcher = new Launcher(config);
  // SIGUSR1 is the node's graceful stop (the whole group gets it: memcached saves its memory too)
  process.on("SIGUSR1", () => void launcher.stop());
  process.on("SIGTERM", () => void launcher.stop());
  process.on("SIGINT", () => void launcher.stop());
  process.on("uncaughtException", (err) => log(`uncaught: ${err.stack ?? err.message}`));
  process.on("unhandledRejection", (err) => log(`unhandled: ${String(err)}`));
  await launcher.run();
}

const invoked = process.argv[1] ? pathToFileURL(path.resolve(process.argv[1])).href : "";
if (import.meta.url === invoked) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: launcher.js <config.json>\n");
    process.exit(2);
  }
  void main(file);
}
