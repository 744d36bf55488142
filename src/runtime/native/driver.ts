import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { fail } from "../../errors.js";
import { writeFileAtomically } from "../../files/write.js";
import { hostPort, nativeAddresses, nativeHttpsOriginAddresses } from "../../render/addresses.js";
import { HEALTH_PATH, NGINX_STATUS_PATH, PROBE_SECRET_ENV } from "../../render/constants.js";
import { httpdConfPath, NGINX_CONF_PATH } from "../../render/paths.js";
import { clusterNodes, memcachedNodeNames, type NodeInfo } from "../../topology/index.js";
import { readSecret } from "../cluster.js";
import type {
  ClusterContext,
  HttpReply,
  LogChunk,
  NginxWorker,
  NodeReading,
  Prerequisite,
  RuntimeDriver,
  StepReporter,
} from "../driver.js";
import {
  connectHost,
  httpGet,
  type LogSource,
  lastLines,
  memcachedGetMulti,
  memcachedVersion,
  nodeOf,
  parseNginxVersion,
  portsInUse,
  waitUntil,
} from "../kit/index.js";
import { launcherDir, nativeLauncherConfig, nativeMemoryDir } from "../memcached/config.js";
import type { LauncherStatus } from "../memcached/launcher.js";
import { checkNativeBinaries, type NativeBinaries } from "./binaries.js";
import { extensionsIni, phpInstallOf, planExtensions } from "./php-extensions.js";
import { isDeadState, listProcesses, readCmdline } from "./procfs.js";
import {
  connectSupervisor,
  killRecordedGroups,
  launchSupervisor,
  readProcesses,
  type SupervisorClient,
} from "./supervisor/index.js";

const HEALTH_TIMEOUT_MS = 2000;
const PORT_HINT =
  "the native runtime serves app and memcached nodes on the ports after balancer.port: choose another balancer.port, or stop what listens there; nothing was started";

interface NodeSpec {
  node: NodeInfo;
  host: string;
  port: number;
  /** Every address it listens on (its own, and with TLS the second one of app nodes and lb). */
  listens: { host: string; port: number }[];
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Directories the process writes (ServerRoot / nginx prefix). */
  dirs: string[];
  logFile: string;
  logFiles: string[];
  /** Graceful stop: SIGWINCH lets Apache finish in-flight requests; nginx finishes them on SIGQUIT. */
  stopSignal: NodeJS.Signals;
  /** The stop signal goes to the group's leader only. */
  leaderOnly?: boolean;
}

/**
 * The native runtime's transport: nginx, one Apache+mod_php per app node and one memcached per
 * memcached node as host processes on loopback, spawned and reaped by the cluster's supervisor
 * (see supervisor/), with their state under `.phpcluster/<name>/`.
 */
export class NativeDriver implements RuntimeDriver {
  readonly name = "native" as const;
  readonly pollMs = 30;
  private binaries: NativeBinaries | undefined;

  constructor(readonly cluster: ClusterContext) {}

  async prerequisites(): Promise<Prerequisite[]> {
    return (await checkNativeBinaries(this.cluster.env)).prerequisites;
  }

  private async requireBinaries(): Promise<NativeBinaries> {
    if (this.binaries) return this.binaries;
    const check = await checkNativeBinaries(this.cluster.env);
    if (!check.binaries) {
      const missing = check.prerequisites.filter((p) => !p.ok);
      throw fail.runtimeUnavailable(
        `the native runtime needs ${missing.map((m) => m.name).join(", ")}`,
        `install ${missing.map((m) => m.package).join(" ")} (\`phpcluster doctor --install --yes\` does it on Debian as root)`,
        { missing },
      );
    }
    this.binaries = check.binaries;
    return check.binaries;
  }

  private nodeDir(node: string): string {
    return path.join(this.cluster.stateDir, "nodes", node);
  }

  private async specs(): Promise<NodeSpec[]> {
    const { cluster } = this;
    const bin = await this.requireBinaries();
    const addresses = nativeAddresses(cluster.topology);
    const httpsOrigin = nativeHttpsOriginAddresses(cluster.topology);
    const tls = cluster.topology.balancer.tls;
    const secret = (await readSecret(cluster.stateDir)) ?? "";
    const baseEnv = { PATH: cluster.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" };
    return clusterNodes(cluster.topology).map((node): NodeSpec => {
      const address = addresses[node.name] ?? { host: "127.0.0.1", port: 0 };
      const dir = this.nodeDir(node.name);
      const logFile = path.join(dir, "logs", "output.log");
      const extra =
        node.role === "app" && httpsOrigin[node.name]
          ? [httpsOrigin[node.name] as { host: string; port: number }]
          : node.role === "balancer" && tls
            ? [{ host: cluster.topology.balancer.bind, port: tls.port }]
            : [];
      const listens = [{ host: address.host, port: address.port }, ...extra];
      const common = { node, host: address.host, port: address.port, listens, logFile };
      if (node.role === "memcached") {
        // the launcher runs memcached (restartable memory, warm from its peers, see memcached/launcher.ts)
        return {
          ...common,
          command: process.execPath,
          args: [path.join(launcherDir(), "launcher.js"), path.join(dir, "launcher.json")],
          env: {
            ...baseEnv,
            ...(cluster.env.PHPCLUSTER_LAUNCHER_DEBUG ? { PHPCLUSTER_LAUNCHER_DEBUG: "1" } : {}),
          },
          dirs: [path.join(dir, "logs")],
          logFiles: [logFile],
          // SIGUSR1 to the launcher only: it holds the sessions' locks, makes memcached save its
          // memory (memcached's own SIGUSR1), and exits; a signal to the group would stop memcached at once
          stopSignal: "SIGUSR1",
          leaderOnly: true,
        };
      }
      if (node.role === "app") {
        return {
          ...common,
          command: bin.apache2,
          args: ["-d", dir, "-f", path.join(cluster.renderDir, httpdConfPath(node.name)), "-DFOREGROUND"],
          env: {
            ...baseEnv,
            // the distribution's conf.d (the empty entry), this node's php.ini, then what it lacks
            PHP_INI_SCAN_DIR: `:${path.join(cluster.renderDir, node.name)}:${this.extensionsDir()}`,
            PHPCLUSTER_NODE: node.name,
            PHPCLUSTER_DOCROOT: cluster.docroot,
            PHPCLUSTER_PHP_MODULE: bin.phpModule,
            PHPCLUSTER_PROBE_DIR: path.join(cluster.renderDir, "probe"),
            [PROBE_SECRET_ENV]: secret,
          },
          dirs: [path.join(dir, "run"), path.join(dir, "logs")],
          logFiles: [logFile, path.join(dir, "logs", "error.log"), path.join(dir, "logs", "access.log")],
          stopSignal: "SIGWINCH",
        };
      }
      return {
        ...common,
        command: bin.nginx,
        args: this.nginxArgs(),
        env: baseEnv,
        dirs: [path.join(dir, "run"), path.join(dir, "logs"), path.join(dir, "temp")],
        logFiles: [logFile, path.join(dir, "logs", "error.log"), path.join(dir, "logs", "access.log")],
        stopSignal: "SIGQUIT",
      };
    });
  }

  private async spec(node: string): Promise<NodeSpec> {
    nodeOf(this.cluster.topology, node);
    return (await this.specs()).find((s) => s.node.name === node) as NodeSpec;
  }

  private nginxArgs(extra: string[] = []): string[] {
    const prefix = `${this.nodeDir("lb")}/`;
    return [
      "-p",
      prefix,
      "-c",
      path.join(this.cluster.renderDir, NGINX_CONF_PATH),
      "-e",
      path.join(prefix, "logs", "error.log"),
      ...extra,
    ];
  }

  /** One health probe: memcached answers `version`, an app node its health page, the balancer its status page and an app node through its upstream. */
  private async probe(spec: NodeSpec): Promise<void> {
    const host = connectHost(spec.host);
    if (spec.node.role === "memcached") {
      await memcachedVersion(host, spec.port, HEALTH_TIMEOUT_MS);
      return;
    }
    const get = (p: string) => httpGet({ host, port: spec.port, path: p, timeoutMs: HEALTH_TIMEOUT_MS });
    if (spec.node.role === "app") {
      const r = await get(HEALTH_PATH);
      if (r.status !== 200) throw new Error(`${HEALTH_PATH} answered ${r.status}`);
      return;
    }
    const status = await get(NGINX_STATUS_PATH);
    if (status.status !== 200) throw new Error(`${NGINX_STATUS_PATH} answered ${status.status}`);
    const through = await get(HEALTH_PATH);
    if (through.status !== 200)
      throw new Error(`${HEALTH_PATH} through the balancer answered ${through.status}`);
  }

  async exists(): Promise<boolean> {
    return Object.values(readProcesses(this.cluster.stateDir)).some(
      (p) => p.alive || p.liveMembers.length > 0,
    );
  }

  private async checkPorts(specs: NodeSpec[]): Promise<void> {
    const taken = await portsInUse(specs.flatMap((s) => s.listens.map((l) => ({ node: s.node.name, ...l }))));
    if (taken.length > 0) throw fail.portInUse(taken, PORT_HINT);
  }

  /**
   * As root, Apache's workers run as www-data: the document root and the probe directory must be
   * reachable by others, or every request fails with 403. Said before anything starts.
   */
  private async checkReadable(): Promise<void> {
    if (process.getuid?.() !== 0) return;
    const { cluster } = this;
    for (const target of [cluster.docroot, path.join(cluster.renderDir, "probe")]) {
      for (let dir = target; ; dir = path.dirname(dir)) {
        const mode = (await stat(dir).catch(() => undefined))?.mode;
        if (mode === undefined) {
          throw fail.docrootMissing(cluster.topologyFileShown, cluster.topology.app.root, dir);
        }
        const need = dir === target ? 0o005 : 0o001;
        if ((mode & need) !== need) throw fail.docrootUnreadable(target, dir, mode);
        if (path.dirname(dir) === dir) break;
      }
    }
  }

  async preflight(): Promise<void> {
    await this.checkPorts(await this.specs());
    await this.checkReadable();
    await this.prepareExtensions();
  }

  private memoryDir(): string {
    return nativeMemoryDir(this.cluster.topology, this.cluster.stateDir);
  }

  private async writeLauncherConfig(spec: NodeSpec): Promise<void> {
    const bin = await this.requireBinaries();
    const addresses = nativeAddresses(this.cluster.topology);
    const servers = memcachedNodeNames(this.cluster.topology).map(
      (m) => addresses[m] as { host: string; port: number },
    );
    const config = nativeLauncherConfig(this.cluster.topology, spec.node.name, {
      servers,
      memoryDir: this.memoryDir(),
      memcached: bin.memcached,
      root: process.getuid?.() === 0,
    });
    await writeFileAtomically(
      path.join(this.nodeDir(spec.node.name), "launcher.json"),
      `${JSON.stringify(config, null, 2)}\n`,
    );
  }

  /** What the launcher of a memcached node says: warming or serving, items. */
  private launcherStatus(node: string): LauncherStatus | undefined {
    try {
      return JSON.parse(
        readFileSync(path.join(this.memoryDir(), node, "status.json"), "utf8"),
      ) as LauncherStatus;
    } catch {
      return undefined;
    }
  }

  /** Where the ini goes that loads the extensions the distribution's conf.d lacks. */
  private extensionsDir(): string {
    return path.join(this.cluster.stateDir, "nodes", "php");
  }

  /**
   * The app nodes get the distribution's extensions (its conf.d) plus what the topology needs;
   * those installed but not enabled are loaded by an ini of ours, and those not installed stop
   * the start with the packages to install.
   */
  private async prepareExtensions(): Promise<void> {
    const bin = await this.requireBinaries();
    const install = phpInstallOf(bin.phpModule);
    if (!install) return;
    const plan = await planExtensions(this.cluster.topology, install);
    if (plan.missing.length > 0) {
      const packages = [...new Set(plan.missing.map((m) => m.package))].join(" ");
      throw fail.runtimeUnavailable(
        `the app nodes need PHP extension${plan.missing.length > 1 ? "s" : ""} not installed here: ${plan.missing
          .map((m) => `${m.name} (${m.package})`)
          .join(", ")}`,
        `install ${packages} (\`phpcluster doctor --install --yes\` does it on Debian as root), or remove them from app.extensions`,
        { missing: plan.missing },
      );
    }
    const file = path.join(this.extensionsDir(), "phpcluster-extensions.ini");
    const text = extensionsIni(plan);
    if (text) await writeFileAtomically(file, text);
    else await rm(file, { force: true });
  }

  async prepare(): Promise<void> {
    await launchSupervisor(this.cluster.stateDir, { timeoutMs: 10_000, env: this.cluster.env });
  }

  private async client(): Promise<SupervisorClient> {
    const client = await connectSupervisor(this.cluster.stateDir);
    if (!client) throw fail.notRunning(`cluster ${this.cluster.topology.name} (no supervisor)`);
    return client;
  }

  async startNode(opts: { node: string }): Promise<void> {
    const spec = await this.spec(opts.node);
    const client = await this.client();
    const p = readProcesses(this.cluster.stateDir)[opts.node];
    if (p?.alive) return;
    // leftovers of a killed parent (Apache children) would hold the port
    if (p && p.liveMembers.length > 0) await client.stop(opts.node, { timeoutMs: 2000 });
    await this.checkPorts([spec]);
    if (spec.node.role === "app") await this.prepareExtensions();
    if (spec.node.role === "memcached") await this.writeLauncherConfig(spec);
    for (const dir of [...spec.dirs, path.dirname(spec.logFile)]) await mkdir(dir, { recursive: true });
    await client.start({
      name: spec.node.name,
      command: spec.command,
      args: spec.args,
      env: spec.env,
      cwd: this.nodeDir(spec.node.name),
      logFile: spec.logFile,
    });
  }

  async stopNode(opts: { node: string; graceMs: number }): Promise<void> {
    const spec = await this.spec(opts.node);
    const client = await this.client();
    await client.stop(opts.node, {
      signal: spec.stopSignal,
      timeoutMs: opts.graceMs,
      leaderOnly: spec.leaderOnly,
    });
  }

  async killNode(opts: { node: string }): Promise<void> {
    await this.spec(opts.node);
    const p = readProcesses(this.cluster.stateDir)[opts.node];
    if (!p?.alive) throw fail.notRunning(opts.node, `start it with \`phpcluster restart ${opts.node}\``);
    process.kill(-p.pgid, "SIGKILL");
    await waitUntil(
      `${opts.node} gone`,
      async () => !readProcesses(this.cluster.stateDir)[opts.node]?.alive,
      {
        timeoutMs: 5000,
        intervalMs: 10,
      },
    );
  }

  async release(): Promise<void> {
    const client = await connectSupervisor(this.cluster.stateDir);
    if (!client) return;
    const order = clusterNodes(this.cluster.topology)
      .map((n) => n.name)
      .reverse();
    await client.shutdown({ order, timeoutMs: 10_000 });
  }

  async down(opts: { reporter: StepReporter }): Promise<void> {
    const order = clusterNodes(this.cluster.topology)
      .map((n) => n.name)
      .reverse();
    const client = await connectSupervisor(this.cluster.stateDir);
    if (client) {
      await opts.reporter.step("stop every node", async () => {
        await client.shutdown({ order, timeoutMs: 10_000 });
      });
    }
    // whatever outlived a dead supervisor: recorded groups only, never by name
    const report = await killRecordedGroups(this.cluster.stateDir, "SIGTERM", { timeoutMs: 5000 });
    if (report.remaining.length > 0) {
      throw fail.runtime("STOP_FAILED", `could not stop ${report.remaining.join(", ")}`);
    }
    await rm(this.memoryDir(), { recursive: true, force: true });
  }

  async inspect(opts: { nodes?: string[] | undefined } = {}): Promise<Record<string, NodeReading>> {
    const specs = (await this.specs()).filter((s) => !opts.nodes || opts.nodes.includes(s.node.name));
    const processes = readProcesses(this.cluster.stateDir);
    const out: Record<string, NodeReading> = {};
    await Promise.all(
      specs.map(async (spec) => {
        const p = processes[spec.node.name];
        const address = hostPort(spec.host, spec.port);
        if (!p?.alive) {
          const why = p
            ? p.signal
              ? `killed by ${p.signal}`
              : `exited with code ${p.exitCode}`
            : "not started";
          out[spec.node.name] = { state: "stopped", failed: p !== undefined, address, detail: why };
          return;
        }
        const launcher = spec.node.role === "memcached" ? this.launcherStatus(spec.node.name) : undefined;
        const extra = launcher
          ? {
              items: launcher.items,
              warming: launcher.state === "warming",
              memcachedPid: launcher.pid,
              recovery: launcher.lastRecovery,
            }
          : {};
        try {
          await this.probe(spec);
          if (launcher?.state === "warming") throw new Error("warming: filling from its peers");
          out[spec.node.name] = { state: "running", address, pid: p.pid, ...extra };
        } catch (err) {
          out[spec.node.name] = {
            state: "unhealthy",
            address,
            pid: p.pid,
            detail: (err as Error).message,
            ...extra,
          };
        }
      }),
    );
    return out;
  }

  async testBalancerConfig(): Promise<string | undefined> {
    const bin = await this.requireBinaries();
    const { execa } = await import("execa"); // only reloads run a program directly
    const test = await execa(bin.nginx, this.nginxArgs(["-t", "-q"]), {
      reject: false,
      timeout: 15_000,
      stdin: "ignore",
      cleanup: false,
      env: { PATH: this.cluster.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" },
      extendEnv: false,
    });
    return test.exitCode === 0 ? undefined : (test.stderr || test.stdout || test.shortMessage || "").trim();
  }

  async balancerVersion(): Promise<string | undefined> {
    const bin = await this.requireBinaries();
    const { execa } = await import("execa");
    const r = await execa(bin.nginx, ["-v"], {
      reject: false,
      timeout: 15_000,
      stdin: "ignore",
      env: { PATH: this.cluster.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" },
      extendEnv: false,
    });
    return parseNginxVersion(`${r.stderr}\n${r.stdout}`);
  }

  async balancerWorkers(): Promise<NginxWorker[]> {
    const master = readProcesses(this.cluster.stateDir).lb;
    if (!master?.alive) return [];
    return listProcesses()
      .filter((w) => w.ppid === master.pid && !isDeadState(w.state))
      .map((w) => ({
        pid: w.pid,
        accepting: (readCmdline(w.pid) ?? []).join(" ").trim() === "nginx: worker process",
      }));
  }

  async signalBalancerReload(): Promise<void> {
    await (await this.client()).signal("lb", "SIGHUP");
  }

  async logs(opts: { node?: string | undefined; tail: number }): Promise<LogChunk[]> {
    const specs = await this.specs();
    const chosen = opts.node ? [await this.spec(opts.node)] : specs;
    const chunks: LogChunk[] = [];
    for (const spec of chosen) {
      for (const file of spec.logFiles) {
        if (!existsSync(file)) continue;
        chunks.push({
          node: spec.node.name,
          file,
          lines: lastLines(await readFile(file, "utf8"), opts.tail),
        });
      }
    }
    return chunks;
  }

  async logSources(opts: { node?: string | undefined; tail: number }): Promise<LogSource[]> {
    const chosen = opts.node ? [await this.spec(opts.node)] : await this.specs();
    return chosen.flatMap((spec) =>
      spec.logFiles.map((file) => ({ node: spec.node.name, kind: "file" as const, file })),
    );
  }

  async httpGetNode(opts: {
    node: string;
    path: string;
    headers: Record<string, string>;
  }): Promise<HttpReply> {
    nodeOf(this.cluster.topology, opts.node, "app");
    const spec = await this.spec(opts.node);
    try {
      return await httpGet({
        host: connectHost(spec.host),
        port: spec.port,
        path: opts.path,
        headers: opts.headers,
        timeoutMs: 35_000,
      });
    } catch (err) {
      throw fail.runtime(
        "NODE_REQUEST_FAILED",
        `GET ${opts.path} on ${opts.node} failed: ${(err as Error).message}`,
      );
    }
  }

  async readStoreKeys(opts: { node: string; keys: string[] }): Promise<Record<string, string>> {
    nodeOf(this.cluster.topology, opts.node, "memcached");
    const spec = await this.spec(opts.node);
    try {
      return await memcachedGetMulti(connectHost(spec.host), spec.port, opts.keys);
    } catch (err) {
      throw fail.runtime("STORE_READ_FAILED", `reading from ${opts.node} failed: ${(err as Error).message}`);
    }
  }
}
