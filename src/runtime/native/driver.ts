import { existsSync } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { CancelledError, ConflictError, RuntimeError, RuntimeUnavailableError } from "../../errors.js";
import {
  HEALTH_PATH,
  httpdConfPath,
  NGINX_CONF_PATH,
  NGINX_STATUS_PATH,
  nativeAddresses,
  PROBE_SECRET_ENV,
} from "../../render/index.js";
import { clusterNodes, type NodeInfo } from "../../topology/index.js";
import { balancerEndpointOf, connectHost, lastLines } from "../address.js";
import { readSecret } from "../cluster.js";
import type {
  ClusterContext,
  HttpReply,
  LogChunk,
  NodeState,
  NodeStatus,
  Prerequisite,
  RuntimeDriver,
  StepReporter,
  UpOptions,
} from "../driver.js";
import { httpGet, memcachedVersion, WaitTimeoutError, waitUntil } from "../health.js";
import { portsInUse } from "../ports.js";
import { checkNativeBinaries, type NativeBinaries } from "./binaries.js";
import { isDeadState, listProcesses, readCmdline } from "./procfs.js";
import { readKey } from "./store.js";
import {
  connectSupervisor,
  killRecordedGroups,
  launchSupervisor,
  readProcesses,
  type SupervisorClient,
} from "./supervisor-client.js";

const HEALTH_TIMEOUT_MS = 2000;
const LOG_TAIL_ON_FAILURE = 15;

interface NodeSpec {
  node: NodeInfo;
  host: string;
  port: number;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Directories the process writes (ServerRoot / nginx prefix). */
  dirs: string[];
  logFile: string;
  logFiles: string[];
  /** Graceful stop: SIGWINCH lets Apache finish in-flight requests; nginx finishes them on SIGQUIT. */
  stopSignal: NodeJS.Signals;
}

export class NativeDriver implements RuntimeDriver {
  readonly name = "native" as const;
  private binaries: NativeBinaries | undefined;

  async prerequisites(): Promise<Prerequisite[]> {
    return (await checkNativeBinaries()).prerequisites;
  }

  private async requireBinaries(): Promise<NativeBinaries> {
    if (this.binaries) return this.binaries;
    const check = await checkNativeBinaries();
    if (!check.binaries) {
      const missing = check.prerequisites.filter((p) => !p.ok);
      throw new RuntimeUnavailableError(
        `the native runtime needs ${missing.map((m) => m.name).join(", ")}`,
        `install ${missing.map((m) => m.package).join(" ")} (\`phpcluster doctor --install --yes\` does it on Debian as root)`,
        { missing },
      );
    }
    this.binaries = check.binaries;
    return check.binaries;
  }

  private nodeDir(cluster: ClusterContext, node: string): string {
    return path.join(cluster.stateDir, "nodes", node);
  }

  private async specs(cluster: ClusterContext): Promise<NodeSpec[]> {
    const bin = await this.requireBinaries();
    const addresses = nativeAddresses(cluster.topology);
    const secret = (await readSecret(cluster.stateDir)) ?? "";
    const root = process.getuid?.() === 0;
    const baseEnv = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" };
    return clusterNodes(cluster.topology).map((node): NodeSpec => {
      const address = addresses[node.name];
      if (!address) throw new Error(`no address for ${node.name}`);
      const dir = this.nodeDir(cluster, node.name);
      const logFile = path.join(dir, "logs", "output.log");
      const common = { node, host: address.host, port: address.port, logFile };
      if (node.role === "memcached") {
        return {
          ...common,
          command: bin.memcached,
          args: [
            ...(root ? ["-u", "memcache"] : []),
            "-l",
            address.host,
            "-p",
            String(address.port),
            "-U",
            "0",
            "-m",
            String(cluster.topology.memcached.memory),
            "-c",
            "1024",
            "-t",
            "2",
          ],
          env: baseEnv,
          dirs: [path.join(dir, "logs")],
          logFiles: [logFile],
          stopSignal: "SIGTERM",
        };
      }
      if (node.role === "app") {
        return {
          ...common,
          command: bin.apache2,
          args: ["-d", dir, "-f", path.join(cluster.renderDir, httpdConfPath(node.name)), "-DFOREGROUND"],
          env: {
            ...baseEnv,
            PHP_INI_SCAN_DIR: "",
            PHPCLUSTER_NODE: node.name,
            PHPCLUSTER_DOCROOT: cluster.docroot,
            PHPCLUSTER_PHP_INI_DIR: path.join(cluster.renderDir, node.name),
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
        args: this.nginxArgs(cluster),
        env: baseEnv,
        dirs: [path.join(dir, "run"), path.join(dir, "logs"), path.join(dir, "temp")],
        logFiles: [logFile, path.join(dir, "logs", "error.log"), path.join(dir, "logs", "access.log")],
        stopSignal: "SIGQUIT",
      };
    });
  }

  private nginxArgs(cluster: ClusterContext, extra: string[] = []): string[] {
    const prefix = `${this.nodeDir(cluster, "lb")}/`;
    return [
      "-p",
      prefix,
      "-c",
      path.join(cluster.renderDir, NGINX_CONF_PATH),
      "-e",
      path.join(prefix, "logs", "error.log"),
      ...extra,
    ];
  }

  private async healthy(spec: NodeSpec): Promise<boolean> {
    const host = connectHost(spec.host);
    if (spec.node.role === "memcached") {
      await memcachedVersion(host, spec.port, HEALTH_TIMEOUT_MS);
      return true;
    }
    if (spec.node.role === "app") {
      const r = await httpGet({ host, port: spec.port, path: HEALTH_PATH, timeoutMs: HEALTH_TIMEOUT_MS });
      if (r.status !== 200) throw new Error(`${HEALTH_PATH} answered ${r.status}`);
      return true;
    }
    // the balancer is healthy when it answers and reaches an app node through its upstream
    const status = await httpGet({
      host,
      port: spec.port,
      path: NGINX_STATUS_PATH,
      timeoutMs: HEALTH_TIMEOUT_MS,
    });
    if (status.status !== 200) throw new Error(`${NGINX_STATUS_PATH} answered ${status.status}`);
    const through = await httpGet({ host, port: spec.port, path: HEALTH_PATH, timeoutMs: HEALTH_TIMEOUT_MS });
    if (through.status !== 200)
      throw new Error(`${HEALTH_PATH} through the balancer answered ${through.status}`);
    return true;
  }

  async exists(cluster: ClusterContext): Promise<boolean> {
    const processes = readProcesses(cluster.stateDir);
    return Object.values(processes).some((p) => p.alive || p.liveMembers.length > 0);
  }

  /** Names the first port already taken, before anything starts. */
  private async checkPorts(specs: NodeSpec[]): Promise<void> {
    const taken = await portsInUse(specs.map((s) => ({ node: s.node.name, host: s.host, port: s.port })));
    if (taken.length > 0) {
      throw new ConflictError(
        "PORT_IN_USE",
        `port${taken.length > 1 ? "s" : ""} already in use: ${taken.map((t) => `${t.host}:${t.port} (for ${t.node})`).join(", ")}`,
        "the native runtime serves app and memcached nodes on the ports after balancer.port: choose another balancer.port, or stop what listens there; nothing was started",
        { taken },
      );
    }
  }

  private async startSpec(
    client: SupervisorClient,
    cluster: ClusterContext,
    spec: NodeSpec,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    for (const dir of spec.dirs) await mkdir(dir, { recursive: true });
    await mkdir(path.dirname(spec.logFile), { recursive: true });
    await client.start({
      name: spec.node.name,
      command: spec.command,
      args: spec.args,
      env: spec.env,
      cwd: this.nodeDir(cluster, spec.node.name),
      logFile: spec.logFile,
    });
    try {
      await waitUntil(
        `${spec.node.name} healthy`,
        async () => {
          const p = readProcesses(cluster.stateDir)[spec.node.name];
          if (p && !p.alive)
            throw new ExitedError(`${spec.node.name} exited (${p.signal ?? `code ${p.exitCode}`})`);
          return this.healthy(spec);
        },
        { timeoutMs, signal, intervalMs: 30 },
      );
    } catch (err) {
      if (err instanceof ExitedError || err instanceof WaitTimeoutError) {
        const tail = await this.tail(spec, LOG_TAIL_ON_FAILURE);
        throw new RuntimeError(
          "NODE_START_FAILED",
          `${spec.node.name} did not become healthy: ${err.message}`,
          {
            hint:
              tail.length > 0
                ? `last log lines of ${spec.node.name}:\n${tail.join("\n")}`
                : `see ${spec.logFile}`,
            details: { node: spec.node.name, log: tail },
          },
        );
      }
      throw err;
    }
  }

  /**
   * As root, Apache's workers run as www-data: the document root and the probe directory must be
   * reachable by others, or every request fails with 403. Say so before anything starts.
   */
  private async checkReadable(cluster: ClusterContext): Promise<void> {
    if (process.getuid?.() !== 0) return;
    for (const target of [cluster.docroot, path.join(cluster.renderDir, "probe")]) {
      let dir = target;
      for (;;) {
        let mode: number;
        try {
          mode = (await stat(dir)).mode;
        } catch {
          throw new RuntimeError("DOCROOT_MISSING", `${dir} does not exist`, {
            hint: "app.root in the topology names the document root, relative to the topology file",
          });
        }
        const need = dir === target ? 0o005 : 0o001;
        if ((mode & need) !== need) {
          throw new RuntimeError(
            "DOCROOT_UNREADABLE",
            `Apache's workers (www-data) cannot read ${target}: ${dir} has mode ${(mode & 0o777).toString(8)}`,
            {
              hint: `allow others to enter it (chmod o+x ${dir}) or keep the project in a directory others can read`,
            },
          );
        }
        const parent = path.dirname(dir);
        if (parent === dir) break;
        dir = parent;
      }
    }
  }

  async up(cluster: ClusterContext, opts: UpOptions): Promise<void> {
    const specs = await this.specs(cluster);
    await this.checkPorts(specs);
    await this.checkReadable(cluster);
    const deadline = Date.now() + opts.timeoutMs;
    let client: SupervisorClient | undefined;
    try {
      client = await launchSupervisor(cluster.stateDir, { timeoutMs: Math.min(10_000, opts.timeoutMs) });
      for (const spec of specs) {
        opts.signal?.throwIfAborted();
        const c = client;
        await opts.reporter.step(`start ${spec.node.name} on ${spec.host}:${spec.port}`, () =>
          this.startSpec(c, cluster, spec, Math.max(1000, deadline - Date.now()), opts.signal),
        );
      }
    } catch (err) {
      await this.down(cluster, { reporter: opts.reporter }).catch(() => {});
      if (opts.signal?.aborted) throw new CancelledError();
      throw err;
    }
  }

  async down(cluster: ClusterContext, opts: { reporter: StepReporter }): Promise<void> {
    const order = clusterNodes(cluster.topology)
      .map((n) => n.name)
      .reverse();
    const client = await connectSupervisor(cluster.stateDir);
    if (client) {
      await opts.reporter.step("stop every node", async () => {
        await client.shutdown({ order, timeoutMs: 10_000 });
      });
    }
    // whatever outlived a dead supervisor: recorded groups only, never by name
    const report = await killRecordedGroups(cluster.stateDir, "SIGTERM", { timeoutMs: 5000 });
    if (report.remaining.length > 0) {
      throw new RuntimeError("STOP_FAILED", `could not stop ${report.remaining.join(", ")}`);
    }
  }

  async status(cluster: ClusterContext): Promise<NodeStatus[]> {
    const specs = await this.specs(cluster);
    const processes = readProcesses(cluster.stateDir);
    return Promise.all(
      specs.map(async (spec): Promise<NodeStatus> => {
        const p = processes[spec.node.name];
        const address = `${spec.host.includes(":") ? `[${spec.host}]` : spec.host}:${spec.port}`;
        if (!p?.alive) {
          const why = p
            ? p.signal
              ? `killed by ${p.signal}`
              : `exited with code ${p.exitCode}`
            : "not started";
          return { name: spec.node.name, role: spec.node.role, state: "stopped", address, detail: why };
        }
        let state: NodeState = "running";
        let detail: string | undefined;
        try {
          await this.healthy(spec);
        } catch (err) {
          state = "unhealthy";
          detail = (err as Error).message;
        }
        return { name: spec.node.name, role: spec.node.role, state, address, pid: p.pid, detail };
      }),
    );
  }

  private async spec(cluster: ClusterContext, node: string): Promise<NodeSpec> {
    const spec = (await this.specs(cluster)).find((s) => s.node.name === node);
    if (!spec) throw new RuntimeError("UNKNOWN_NODE", `there is no node ${node}`);
    return spec;
  }

  private async client(cluster: ClusterContext): Promise<SupervisorClient> {
    const client = await connectSupervisor(cluster.stateDir);
    if (!client) {
      throw new RuntimeError(
        "NOT_RUNNING",
        `cluster ${cluster.topology.name} is not running (no supervisor)`,
        {
          hint: "start it with `phpcluster create`",
        },
      );
    }
    return client;
  }

  async startNode(cluster: ClusterContext, node: string, opts: { timeoutMs: number }): Promise<void> {
    const spec = await this.spec(cluster, node);
    const client = await this.client(cluster);
    const p = readProcesses(cluster.stateDir)[node];
    if (p?.alive) return;
    // leftovers of a killed parent (Apache children) would hold the port
    if (p && p.liveMembers.length > 0) await client.stop(node, { timeoutMs: 2000 });
    await this.checkPorts([spec]);
    await this.startSpec(client, cluster, spec, opts.timeoutMs);
  }

  async stopNode(cluster: ClusterContext, node: string): Promise<void> {
    const spec = await this.spec(cluster, node);
    const client = await this.client(cluster);
    const graceMs = Math.max(10_000, cluster.topology.balancer.readTimeoutMs + 5000);
    await client.stop(node, { signal: spec.stopSignal, timeoutMs: graceMs });
  }

  async killNode(cluster: ClusterContext, node: string): Promise<void> {
    await this.spec(cluster, node);
    const p = readProcesses(cluster.stateDir)[node];
    if (!p?.alive) throw new RuntimeError("NOT_RUNNING", `${node} is not running`);
    process.kill(-p.pgid, "SIGKILL");
    await waitUntil(`${node} gone`, async () => !readProcesses(cluster.stateDir)[node]?.alive, {
      timeoutMs: 5000,
      intervalMs: 10,
    });
  }

  async reloadBalancer(cluster: ClusterContext): Promise<void> {
    const bin = await this.requireBinaries();
    const test = await execa(bin.nginx, this.nginxArgs(cluster, ["-t", "-q"]), {
      reject: false,
      timeout: 15_000,
      stdin: "ignore",
    });
    if (test.exitCode !== 0) {
      throw new RuntimeError(
        "BALANCER_CONFIG_INVALID",
        "nginx -t rejected the rendered nginx.conf; the running balancer was not touched",
        {
          hint: (test.stderr || test.stdout).trim(),
        },
      );
    }
    const client = await this.client(cluster);
    const p = readProcesses(cluster.stateDir).lb;
    if (!p?.alive) {
      await this.startNode(cluster, "lb", { timeoutMs: 15_000 });
      return;
    }
    // A reload is only done when no worker of the old generation still accepts connections: until
    // then, new requests may still be routed by the old config (e.g. to a node being drained).
    const accepting = () =>
      listProcesses()
        .filter((w) => w.ppid === p.pid && !isDeadState(w.state))
        .filter((w) => (readCmdline(w.pid) ?? []).join(" ").trim() === "nginx: worker process")
        .map((w) => w.pid);
    const old = new Set(accepting());
    const lb = await this.spec(cluster, "lb");
    await client.signal("lb", "SIGHUP");
    await waitUntil(
      "nginx reload",
      async () => {
        const now = accepting();
        if (now.length === 0 || now.some((pid) => old.has(pid))) return false;
        return this.healthy(lb);
      },
      { timeoutMs: 10_000, intervalMs: 10 },
    );
  }

  private async tail(spec: NodeSpec, lines: number): Promise<string[]> {
    const out: string[] = [];
    for (const file of spec.logFiles) {
      if (file.endsWith("access.log")) continue;
      try {
        const text = (await readFile(file, "utf8")).trimEnd();
        if (text)
          out.push(
            ...text
              .split("\n")
              .slice(-lines)
              .map((l) => `${path.basename(file)}: ${l}`),
          );
      } catch {}
    }
    return out.slice(-lines);
  }

  async logs(cluster: ClusterContext, node: string | undefined, tail: number): Promise<LogChunk[]> {
    const specs = await this.specs(cluster);
    const chosen = node ? specs.filter((s) => s.node.name === node) : specs;
    if (node && chosen.length === 0) throw new RuntimeError("UNKNOWN_NODE", `there is no node ${node}`);
    const chunks: LogChunk[] = [];
    for (const spec of chosen) {
      for (const file of spec.logFiles) {
        if (!existsSync(file)) continue;
        const text = (await readFile(file, "utf8")).trimEnd();
        chunks.push({ node: spec.node.name, file, lines: lastLines(text, tail) });
      }
    }
    return chunks;
  }

  balancerEndpoint(cluster: ClusterContext): { host: string; port: number } {
    return balancerEndpointOf(cluster.topology);
  }

  async httpGetNode(
    cluster: ClusterContext,
    node: string,
    urlPath: string,
    headers: Record<string, string>,
  ): Promise<HttpReply> {
    const spec = await this.spec(cluster, node);
    if (spec.node.role !== "app") throw new RuntimeError("NOT_AN_APP_NODE", `${node} is not an app node`);
    return httpGet({
      host: connectHost(spec.host),
      port: spec.port,
      path: urlPath,
      headers,
      timeoutMs: 35_000,
    });
  }

  async readStoreKey(cluster: ClusterContext, node: string, key: string): Promise<string | undefined> {
    const spec = await this.spec(cluster, node);
    if (spec.node.role !== "memcached")
      throw new RuntimeError("NOT_A_MEMCACHED_NODE", `${node} is not a memcached node`);
    return readKey(connectHost(spec.host), spec.port, key);
  }
}

class ExitedError extends Error {}
