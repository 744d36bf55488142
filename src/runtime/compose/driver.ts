import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { CancelledError, ConflictError, RuntimeError, RuntimeUnavailableError } from "../../errors.js";
import {
  COMPOSE_APP_PORT,
  COMPOSE_LB_PORT,
  COMPOSE_MEMCACHED_PORT,
  composeAddresses,
  hostPort,
} from "../../render/addresses.js";
import {
  type ClusterManifest,
  COMPOSE_FILE_PATH,
  CONTAINER,
  MANIFEST_PATH,
  PROBE_SECRET_ENV,
} from "../../render/index.js";
import { clusterNodes, type NodeInfo } from "../../topology/index.js";
import { balancerEndpointOf } from "../address.js";
import { readSecret } from "../cluster.js";
import { probeDocker } from "../detect.js";
import type {
  ClusterContext,
  HttpReply,
  LogChunk,
  NodeStatus,
  Prerequisite,
  RuntimeDriver,
  StepReporter,
  UpOptions,
} from "../driver.js";
import { WaitTimeoutError, waitUntil } from "../health.js";
import { portIsFree } from "../ports.js";
import {
  type ComposeCli,
  type ContainerInfo,
  composeArgs,
  composeArgv,
  containerState,
  curlArgs,
  DockerUnavailable,
  docker,
  findCompose,
  LABEL_PROJECT,
  lastLines,
  listContainers,
  looksLikePullFailure,
  MEMCACHED_GET_SCRIPT,
  NGINX_WORKERS_SCRIPT,
  parseCurlReply,
  parseMemcachedGet,
  parsePids,
  pickContainer,
  STORE_KEY_PATTERN,
} from "./compose-cli.js";

const LOG_TAIL_ON_FAILURE = 15;
/** Building images runs apt-get in three images: bounded on its own, not by the start-up timeout. */
const BUILD_TIMEOUT_MS = 20 * 60_000;
const COMPOSE_TIMEOUT_MS = 120_000;
const BUILD_LOG = "compose-build.log";
const NGINX_CONF = `${CONTAINER.nginxConfigDir}/nginx.conf`;
/** `docker compose` parses the whole file for every command: the secret must be set even to stop a node. */
const SECRET_PLACEHOLDER = "unused-by-this-command";

class ExitedError extends Error {}

/**
 * The compose runtime: one Compose service per node, run with `docker compose` (v2+) or
 * `docker-compose` (v1), project name = cluster name. Node state comes from the engine (`docker
 * inspect` through the Compose labels); reads inside the cluster (an app node's HTTP, a Memcached
 * key, nginx -t) run with `docker exec` in the node's container, since the backend network is internal.
 */
export class ComposeDriver implements RuntimeDriver {
  readonly name = "compose" as const;
  private cli: ComposeCli | undefined;

  async prerequisites(): Promise<Prerequisite[]> {
    const [engine, compose] = await Promise.all([probeDocker(), this.findCli()]);
    return [
      {
        name: "Docker engine",
        ok: engine.answers,
        detail: engine.answers
          ? `server ${engine.serverVersion}`
          : `the Docker engine does not answer${engine.error ? `: ${engine.error}` : ""} (is dockerd running?)`,
        package: "docker.io",
      },
      {
        name: "Docker Compose",
        ok: compose !== undefined,
        detail: compose
          ? `${compose.command.join(" ")} ${compose.version} (${compose.generation})`
          : "neither `docker compose` nor `docker-compose` was found",
        package: "docker-compose",
      },
    ];
  }

  private async findCli(): Promise<ComposeCli | undefined> {
    this.cli ??= await findCompose();
    return this.cli;
  }

  private async requireCli(): Promise<ComposeCli> {
    const cli = await this.findCli();
    if (!cli) {
      throw new RuntimeUnavailableError(
        "the compose runtime needs Docker Compose: neither `docker compose` nor `docker-compose` was found",
        "install docker-compose (Debian) or the Docker Compose plugin, or use --runtime native",
      );
    }
    return cli;
  }

  private project(cluster: ClusterContext): string {
    return cluster.topology.name;
  }

  /**
   * Run one Compose command in the render directory. Never rejects on a non-zero exit; rejects when
   * cancelled (the caller checks the signal).
   */
  private async compose(
    cluster: ClusterContext,
    args: string[],
    opts: { timeoutMs?: number; signal?: AbortSignal | undefined; secret?: string; logFile?: string } = {},
  ) {
    const cli = await this.requireCli();
    const file = path.join(cluster.renderDir, COMPOSE_FILE_PATH);
    const argv = composeArgv(cli, this.project(cluster), file, args);
    const secret = opts.secret ?? (await readSecret(cluster.stateDir)) ?? SECRET_PLACEHOLDER;
    const output = opts.logFile
      ? { stdout: { file: opts.logFile, append: true }, stderr: { file: opts.logFile, append: true } }
      : {};
    return execa(argv.file, argv.args, {
      cwd: cluster.renderDir,
      env: {
        [PROBE_SECRET_ENV]: secret,
        // no buildx here: the classic builder (v1: through the Docker API, not the CLI)
        COMPOSE_DOCKER_CLI_BUILD: "0",
        DOCKER_BUILDKIT: "0",
        NO_COLOR: "1",
      },
      reject: false,
      stdin: "ignore",
      cleanup: false,
      timeout: opts.timeoutMs ?? COMPOSE_TIMEOUT_MS,
      ...(opts.signal ? { cancelSignal: opts.signal } : {}),
      forceKillAfterDelay: 5000,
      ...output,
    });
  }

  private composeFailure(what: string, r: { stderr?: unknown; stdout?: unknown; shortMessage?: string }) {
    const text = `${typeof r.stderr === "string" ? r.stderr : ""}\n${typeof r.stdout === "string" ? r.stdout : ""}`;
    const lines = lastLines(text, LOG_TAIL_ON_FAILURE);
    return new RuntimeError("COMPOSE_FAILED", `${what} failed`, {
      hint: lines.length > 0 ? lines.join("\n") : r.shortMessage,
      details: { output: lines },
    });
  }

  private async containers(cluster: ClusterContext, service?: string): Promise<ContainerInfo[]> {
    try {
      return await listContainers(this.project(cluster), service);
    } catch (err) {
      if (err instanceof DockerUnavailable) {
        throw new RuntimeUnavailableError(`the Docker engine does not answer: ${err.message}`);
      }
      throw err;
    }
  }

  private async container(cluster: ClusterContext, node: string): Promise<ContainerInfo | undefined> {
    return pickContainer(await this.containers(cluster, node), node);
  }

  private node(cluster: ClusterContext, name: string): NodeInfo {
    const node = clusterNodes(cluster.topology).find((n) => n.name === name);
    if (!node) {
      throw new RuntimeError("UNKNOWN_NODE", `there is no node ${name}`, {
        hint: `the nodes are ${clusterNodes(cluster.topology)
          .map((n) => n.name)
          .join(", ")}`,
      });
    }
    return node;
  }

  /** The running container of a node, or a NOT_RUNNING error. */
  private async running(cluster: ClusterContext, node: string): Promise<ContainerInfo> {
    const c = await this.container(cluster, node);
    if (!c || c.status !== "running") {
      throw new RuntimeError("NOT_RUNNING", `${node} is not running`, {
        hint: `start it with \`phpcluster restart ${node}\``,
      });
    }
    return c;
  }

  private async requireSecret(cluster: ClusterContext): Promise<string> {
    const secret = await readSecret(cluster.stateDir);
    if (!secret) {
      throw new RuntimeError("SECRET_MISSING", `the probe secret of ${cluster.topology.name} is missing`, {
        hint: `${path.join(cluster.stateDir, "secret")} is written by \`phpcluster create\``,
      });
    }
    return secret;
  }

  async exists(cluster: ClusterContext): Promise<boolean> {
    return (await this.containers(cluster)).length > 0;
  }

  async up(cluster: ClusterContext, opts: UpOptions): Promise<void> {
    const cli = await this.requireCli();
    const t = cluster.topology;
    const { bind, port } = t.balancer;
    if (!(await portIsFree(bind, port))) {
      throw new ConflictError(
        "PORT_IN_USE",
        `port already in use: ${hostPort(bind, port)} (for lb)`,
        "balancer.port is where the cluster is published: choose another one, or stop what listens there; nothing was started",
        { taken: [{ node: "lb", host: bind, port }] },
      );
    }
    const secret = await this.requireSecret(cluster);
    try {
      await opts.reporter.step("build images", () => this.build(cluster, cli, secret, opts.signal));
      // the timeout bounds bringing the nodes up; the build has its own bound
      const deadline = Date.now() + opts.timeoutMs;
      for (const node of clusterNodes(t)) {
        opts.signal?.throwIfAborted();
        await opts.reporter.step(`start ${node.name}`, () =>
          this.startService(cluster, node.name, secret, Math.max(1000, deadline - Date.now()), opts.signal),
        );
      }
    } catch (err) {
      await this.down(cluster, { reporter: opts.reporter }).catch(() => {});
      if (opts.signal?.aborted) throw new CancelledError();
      throw err;
    }
  }

  /** One build per image (app nodes share theirs), output to `<stateDir>/compose-build.log`. */
  private async build(
    cluster: ClusterContext,
    cli: ComposeCli,
    secret: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const nodes = clusterNodes(cluster.topology);
    const services = (["memcached", "app", "balancer"] as const)
      .map((role) => nodes.find((n) => n.role === role)?.name)
      .filter((n): n is string => n !== undefined);
    const base = cluster.topology.images.base;
    const baseWasThere = (await docker(["image", "inspect", "--format", "{{.Id}}", base])).exitCode === 0;
    const logFile = path.join(cluster.stateDir, BUILD_LOG);
    await writeFile(logFile, "");
    const r = await this.compose(cluster, composeArgs.build(cli, services), {
      timeoutMs: BUILD_TIMEOUT_MS,
      signal,
      secret,
      logFile,
    });
    signal?.throwIfAborted();
    if (r.exitCode === 0) return;
    const log = await readFile(logFile, "utf8").catch(() => "");
    const tail = lastLines(log, LOG_TAIL_ON_FAILURE);
    if (!baseWasThere && looksLikePullFailure(log)) {
      throw new RuntimeUnavailableError(
        `the base image ${base} (images.base) is not available: it is not on this Docker engine and could not be pulled`,
        `images.base names the image every node's Dockerfile is built FROM; it must exist locally (\`docker image ls\`) or be pullable from a registry. Build or load it, or set images.base to an image that exists. Last lines of ${logFile}:\n${tail.slice(-3).join("\n")}`,
        { image: base, log: tail },
      );
    }
    throw new RuntimeError(
      "IMAGE_BUILD_FAILED",
      r.timedOut
        ? `building the images took longer than ${BUILD_TIMEOUT_MS / 60_000} min`
        : "building the images failed",
      { hint: `last lines of ${logFile}:\n${tail.join("\n")}`, details: { log: tail } },
    );
  }

  /** `up -d --no-deps` one service (creates it, or starts its stopped container) and wait until it is healthy. */
  private async startService(
    cluster: ClusterContext,
    node: string,
    secret: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const r = await this.compose(cluster, composeArgs.upService(node), {
      secret,
      signal,
      timeoutMs: Math.max(timeoutMs, 30_000),
    });
    signal?.throwIfAborted();
    if (r.exitCode !== 0) {
      const output = `${r.stderr}\n${r.stdout}`;
      if (node === "lb" && /address already in use|port is already allocated/i.test(output)) {
        const { bind, port } = cluster.topology.balancer;
        throw new ConflictError(
          "PORT_IN_USE",
          `port already in use: ${hostPort(bind, port)} (for lb)`,
          "something took balancer.port while the cluster was starting: choose another balancer.port, or stop what listens there",
          { taken: [{ node: "lb", host: bind, port }], output: lastLines(output, LOG_TAIL_ON_FAILURE) },
        );
      }
      const failure = this.composeFailure(`starting ${node}`, r);
      throw new RuntimeError("NODE_START_FAILED", `${node} did not start`, {
        hint: failure.hint,
        details: { node, output: failure.details },
      });
    }
    await this.waitHealthy(cluster, node, timeoutMs, signal);
  }

  private async waitHealthy(
    cluster: ClusterContext,
    node: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await waitUntil(
        `${node} healthy`,
        async () => {
          const c = await this.container(cluster, node);
          const s = containerState(c);
          if (s.state === "running") return true;
          if (c === undefined) throw new ExitedError(`${node} has no container`);
          if (c.status !== "running" && c.status !== "restarting")
            throw new ExitedError(`${node} ${s.detail ?? c.status}`);
          if (c.health === "unhealthy") throw new ExitedError(`${node} is ${s.detail ?? "unhealthy"}`);
          throw new Error(s.detail ?? c.status);
        },
        { timeoutMs, signal, intervalMs: 250 },
      );
    } catch (err) {
      if (err instanceof ExitedError || err instanceof WaitTimeoutError) {
        const tail = await this.tail(cluster, node, LOG_TAIL_ON_FAILURE);
        throw new RuntimeError("NODE_START_FAILED", `${node} did not become healthy: ${err.message}`, {
          hint:
            tail.length > 0
              ? `last log lines of ${node}:\n${tail.join("\n")}`
              : `see \`phpcluster logs ${node}\``,
          details: { node, log: tail },
        });
      }
      throw err;
    }
  }

  async down(cluster: ClusterContext, opts: { reporter: StepReporter }): Promise<void> {
    await opts.reporter.step("stop and remove every container", async () => {
      const file = path.join(cluster.renderDir, COMPOSE_FILE_PATH);
      if (existsSync(file) && (await this.findCli()) !== undefined) {
        const r = await this.compose(cluster, composeArgs.down(5), { timeoutMs: COMPOSE_TIMEOUT_MS });
        if (r.exitCode !== 0 && (await this.containers(cluster)).length > 0) {
          throw this.composeFailure("docker compose down", r);
        }
      }
      // what Compose could not see (no rendered file any more): by the project's label, never by name
      const left = await this.containers(cluster);
      if (left.length > 0) {
        const rm = await docker(["rm", "-f", "-v", ...left.map((c) => c.id)], { timeoutMs: 60_000 });
        if (rm.exitCode !== 0) {
          throw new RuntimeError("STOP_FAILED", `could not remove ${left.map((c) => c.name).join(", ")}`, {
            hint: rm.stderr.trim(),
          });
        }
      }
      const networks = await docker([
        "network",
        "ls",
        "-q",
        "--filter",
        `label=${LABEL_PROJECT}=${this.project(cluster)}`,
      ]);
      const ids = networks.stdout.split("\n").filter((l) => l.trim());
      if (networks.exitCode === 0 && ids.length > 0) await docker(["network", "rm", ...ids]);
    });
  }

  private async manifest(cluster: ClusterContext): Promise<ClusterManifest | undefined> {
    try {
      return JSON.parse(
        await readFile(path.join(cluster.renderDir, MANIFEST_PATH), "utf8"),
      ) as ClusterManifest;
    } catch {
      return undefined;
    }
  }

  /** `ip:port` inside the cluster network (from the rendered cluster.json); the balancer's host address for lb. */
  private async addresses(cluster: ClusterContext): Promise<Record<string, string>> {
    const t = cluster.topology;
    const out: Record<string, string> = {};
    const manifest = await this.manifest(cluster);
    if (manifest) {
      for (const n of manifest.nodes) out[n.name] = hostPort(n.host, n.port);
    } else {
      const ips = composeAddresses(t).nodes;
      for (const n of clusterNodes(t)) {
        const port =
          n.role === "memcached"
            ? COMPOSE_MEMCACHED_PORT
            : n.role === "app"
              ? COMPOSE_APP_PORT
              : COMPOSE_LB_PORT;
        out[n.name] = `${ips[n.name]}:${port}`;
      }
    }
    out.lb = hostPort(t.balancer.bind, t.balancer.port);
    return out;
  }

  async status(cluster: ClusterContext): Promise<NodeStatus[]> {
    const [containers, addresses] = await Promise.all([this.containers(cluster), this.addresses(cluster)]);
    return clusterNodes(cluster.topology).map((node): NodeStatus => {
      const s = containerState(pickContainer(containers, node.name));
      return {
        name: node.name,
        role: node.role,
        state: s.state,
        address: addresses[node.name] ?? "",
        ...(s.pid !== undefined && s.state !== "stopped" ? { pid: s.pid } : {}),
        ...(s.detail !== undefined ? { detail: s.detail } : {}),
      };
    });
  }

  async startNode(cluster: ClusterContext, node: string, opts: { timeoutMs: number }): Promise<void> {
    this.node(cluster, node);
    const c = await this.container(cluster, node);
    if (c?.status === "running") {
      await this.waitHealthy(cluster, node, opts.timeoutMs);
      return;
    }
    const secret = await this.requireSecret(cluster);
    await this.startService(cluster, node, secret, opts.timeoutMs);
  }

  async stopNode(cluster: ClusterContext, node: string): Promise<void> {
    this.node(cluster, node);
    // Apache's stop signal (SIGWINCH) lets in-flight requests finish, up to the balancer's read timeout
    const graceSeconds = Math.ceil(Math.max(10_000, cluster.topology.balancer.readTimeoutMs + 5000) / 1000);
    const r = await this.compose(cluster, composeArgs.stop(node, graceSeconds), {
      timeoutMs: graceSeconds * 1000 + COMPOSE_TIMEOUT_MS,
    });
    if (r.exitCode !== 0) throw this.composeFailure(`stopping ${node}`, r);
  }

  async killNode(cluster: ClusterContext, node: string): Promise<void> {
    this.node(cluster, node);
    await this.running(cluster, node);
    // a SIGKILLed container is not restarted by any restart policy
    const r = await this.compose(cluster, composeArgs.kill(node));
    if (r.exitCode !== 0) throw this.composeFailure(`killing ${node}`, r);
    await waitUntil(`${node} gone`, async () => (await this.container(cluster, node))?.status !== "running", {
      timeoutMs: 5000,
      intervalMs: 50,
    }).catch((err: Error) => {
      throw new RuntimeError("KILL_FAILED", `${node} still runs after SIGKILL: ${err.message}`);
    });
  }

  async reloadBalancer(cluster: ClusterContext): Promise<void> {
    const lb = await this.container(cluster, "lb");
    if (lb?.status !== "running") {
      await this.startNode(cluster, "lb", { timeoutMs: 30_000 });
      return;
    }
    const test = await docker(["exec", lb.id, "nginx", "-t", "-q", "-c", NGINX_CONF], { timeoutMs: 15_000 });
    if (test.exitCode !== 0) {
      throw new RuntimeError(
        "BALANCER_CONFIG_INVALID",
        "nginx -t rejected the rendered nginx.conf; the running balancer was not touched",
        { hint: (test.stderr || test.stdout || test.shortMessage || "").trim() },
      );
    }
    const workers = async () =>
      parsePids((await docker(["exec", lb.id, "bash", "-c", NGINX_WORKERS_SCRIPT])).stdout);
    const before = new Set(await workers());
    const reload = await docker(["exec", lb.id, "nginx", "-s", "reload", "-c", NGINX_CONF], {
      timeoutMs: 15_000,
    });
    if (reload.exitCode !== 0) {
      throw new RuntimeError("BALANCER_RELOAD_FAILED", "nginx -s reload failed", {
        hint: (reload.stderr || reload.stdout || reload.shortMessage || "").trim(),
      });
    }
    // the new config is in effect once the master runs workers started after the signal
    // (when the workers could not be listed, only the balancer's health is checked)
    await waitUntil(
      "nginx reload",
      async () => {
        if (before.size > 0 && !(await workers()).some((pid) => !before.has(pid))) return false;
        return containerState(await this.container(cluster, "lb")).state === "running";
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    ).catch(async (err: Error) => {
      throw new RuntimeError("BALANCER_RELOAD_FAILED", `the balancer did not reload: ${err.message}`, {
        hint: (await this.tail(cluster, "lb", LOG_TAIL_ON_FAILURE)).join("\n") || undefined,
      });
    });
  }

  private async tail(cluster: ClusterContext, node: string, lines: number): Promise<string[]> {
    const c = await this.container(cluster, node).catch(() => undefined);
    if (!c) return [];
    const r = await execa("docker", ["logs", "--tail", String(lines), c.id], {
      reject: false,
      all: true,
      timeout: 15_000,
      stdin: "ignore",
      cleanup: false,
    });
    const out = lastLines(r.all ?? "", lines);
    if (c.status === "running" && c.health === "unhealthy" && c.healthOutput) {
      out.push(`healthcheck: ${c.healthOutput.split("\n")[0]}`);
    }
    return out;
  }

  async logs(cluster: ClusterContext, node: string | undefined, tail: number): Promise<LogChunk[]> {
    const nodes = node ? [this.node(cluster, node)] : clusterNodes(cluster.topology);
    const containers = await this.containers(cluster);
    const chunks: LogChunk[] = [];
    for (const n of nodes) {
      const c = pickContainer(containers, n.name);
      if (!c) continue;
      const r = await execa("docker", ["logs", "--tail", String(tail), c.id], {
        reject: false,
        all: true,
        timeout: 30_000,
        stdin: "ignore",
        cleanup: false,
      });
      const text = (r.all ?? "").trimEnd();
      chunks.push({
        node: n.name,
        file: `docker logs ${c.name}`,
        lines: lastLines(text, tail),
      });
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
    if (this.node(cluster, node).role !== "app")
      throw new RuntimeError("NOT_AN_APP_NODE", `${node} is not an app node`);
    let args: string[];
    try {
      args = curlArgs(urlPath, headers, 30);
    } catch (err) {
      throw new RuntimeError("BAD_REQUEST", (err as Error).message);
    }
    const c = await this.running(cluster, node);
    const r = await execa("docker", ["exec", c.id, ...args], {
      reject: false,
      encoding: "buffer",
      stripFinalNewline: false,
      timeout: 40_000,
      stdin: "ignore",
      cleanup: false,
    });
    if (r.exitCode !== 0) {
      throw new RuntimeError("NODE_REQUEST_FAILED", `GET ${urlPath} on ${node} failed`, {
        hint:
          Buffer.from(r.stderr ?? new Uint8Array())
            .toString("utf8")
            .trim() || r.shortMessage,
      });
    }
    return parseCurlReply(r.stdout);
  }

  async readStoreKey(cluster: ClusterContext, node: string, key: string): Promise<string | undefined> {
    if (this.node(cluster, node).role !== "memcached")
      throw new RuntimeError("NOT_A_MEMCACHED_NODE", `${node} is not a memcached node`);
    if (!STORE_KEY_PATTERN.test(key))
      throw new RuntimeError("BAD_KEY", `not a Memcached key: ${JSON.stringify(key)}`);
    const c = await this.running(cluster, node);
    const r = await execa("docker", ["exec", c.id, "bash", "-c", MEMCACHED_GET_SCRIPT, "_", key], {
      reject: false,
      encoding: "buffer",
      stripFinalNewline: false,
      timeout: 15_000,
      stdin: "ignore",
      cleanup: false,
    });
    if (r.exitCode !== 0) {
      const err = Buffer.from(r.stderr ?? new Uint8Array())
        .toString("utf8")
        .trim();
      throw new RuntimeError("STORE_READ_FAILED", `reading ${key} from ${node} failed`, {
        hint: err || r.shortMessage,
      });
    }
    try {
      return parseMemcachedGet(r.stdout, key);
    } catch (err) {
      throw new RuntimeError(
        "STORE_READ_FAILED",
        `reading ${key} from ${node} failed: ${(err as Error).message}`,
      );
    }
  }
}
