import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { fail, isPhpclusterError } from "../../errors.js";
import {
  COMPOSE_APP_PORT,
  COMPOSE_LB_PORT,
  COMPOSE_MEMCACHED_PORT,
  composeAddresses,
  hostPort,
} from "../../render/addresses.js";
import { type ClusterManifest, COMPOSE_FILE_PATH, MANIFEST_PATH } from "../../render/index.js";
import { composeMemoryDir } from "../../render/memcached.js";
import { clusterNodes, memcachedNodeNames } from "../../topology/index.js";
import { readSecret } from "../cluster.js";
import { probeDocker } from "../detect.js";
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
  type BuiltImage,
  type BuiltImages,
  imagesOf,
  type LogSource,
  lastLines,
  nodeNames,
  nodeOf,
  parseNginxVersion,
  portHolder,
  portsInUse,
  removeImages,
  throwIfAborted,
  waitUntil,
  withLauncherStatus,
} from "../kit/index.js";
import type { LauncherStatus } from "../memcached/launcher.js";
import { buildImages } from "./build.js";
import {
  type ContainerInfo,
  containerFailed,
  containerState,
  DockerUnavailable,
  listContainers,
  listNetworksArgs,
  parseConfigHashes,
  parseIds,
  pickContainer,
} from "./containers.js";
import {
  COMPOSE_TIMEOUT_MS,
  type ComposeProject,
  compose,
  composeArgs,
  containerArgs,
  docker,
  dockerEnv,
  failureText,
  type Ran,
  type RunOptions,
} from "./exec.js";
import { type ComposeCli, findCompose } from "./flavour.js";
import {
  curlArgs,
  memcachedGetArgs,
  NGINX_RELOAD_ARGS,
  NGINX_TEST_ARGS,
  NGINX_WORKERS_SCRIPT,
  parseCurlReply,
  parseMemcachedGetMulti,
  parseWorkers,
  STORE_KEY_PATTERN,
} from "./reads.js";

const LOG_TAIL_ON_FAILURE = 15;
/** `docker compose` parses the whole file for every command: the secret must be set even to stop a node. */
const SECRET_PLACEHOLDER = "unused-by-this-command";
const NGINX_TIMEOUT_MS = 15_000;
const CURL_MAX_TIME_S = 30;
const MEMCACHED_TIMEOUT_MS = 15_000;
const KILL_WAIT_MS = 5000;
const PORT_HINT =
  "balancer.port is where the cluster is published: choose another one, or stop what listens there; nothing was started";
const PORT_TAKEN_WHILE_STARTING_HINT =
  "something took balancer.port while the cluster was starting: choose another balancer.port, or stop what listens there";

/**
 * The compose runtime: one Compose service per node, run with `docker compose` (v2+) or
 * `docker-compose` (v1), project name = cluster name. Node state comes from the engine (`docker
 * inspect` through the Compose labels); reads inside the cluster (an app node's HTTP, Memcached
 * keys, nginx) run with `docker exec` in the node's container, since the backend network is
 * internal. Transport only: the order of start-up, health waits, rollback and reloads are the
 * lifecycle's and the kit's.
 */
export class ComposeDriver implements RuntimeDriver {
  readonly name = "compose" as const;
  /** One poll is a `docker ps` and a `docker inspect`. */
  readonly pollMs = 250;
  private cli: Promise<ComposeCli | undefined> | undefined;
  /** Compose's config hash of each service, for the rendered file as it was read (its text is the key). */
  private hashes: { file: string; hashes: Promise<Record<string, string>> } | undefined;

  constructor(readonly cluster: ClusterContext) {}

  // ----------------------------------------------------------------------------------- plumbing

  private get project(): string {
    return this.cluster.topology.name;
  }

  private get composeFile(): string {
    return path.join(this.cluster.renderDir, COMPOSE_FILE_PATH);
  }

  private findCli(): Promise<ComposeCli | undefined> {
    this.cli ??= findCompose(this.cluster.env);
    return this.cli;
  }

  private async requireCli(): Promise<ComposeCli> {
    const cli = await this.findCli();
    if (!cli) {
      throw fail.runtimeUnavailable(
        "the compose runtime needs Docker Compose: neither `docker compose` nor `docker-compose` was found",
        "install docker-compose (Debian) or the Docker Compose plugin, or use --runtime native",
      );
    }
    return cli;
  }

  private async requireSecret(): Promise<string> {
    const secret = await readSecret(this.cluster.stateDir);
    if (!secret) {
      throw fail.runtime("SECRET_MISSING", `the probe secret of ${this.cluster.topology.name} is missing`, {
        hint: `${path.join(this.cluster.stateDir, "secret")} is written by \`phpcluster create\``,
      });
    }
    return secret;
  }

  /** The Compose project, with the secret given, else the recorded one, else a placeholder (for commands that create nothing). */
  private async composeProject(secret?: string): Promise<ComposeProject> {
    return {
      cli: await this.requireCli(),
      project: this.project,
      file: this.composeFile,
      cwd: this.cluster.renderDir,
      env: this.cluster.env,
      secret: secret ?? (await readSecret(this.cluster.stateDir)) ?? SECRET_PLACEHOLDER,
    };
  }

  /** One Compose command; never rejects on a non-zero exit (the caller checks the signal). */
  private async runCompose(args: string[], opts: RunOptions & { secret?: string } = {}): Promise<Ran> {
    const { secret, ...run } = opts;
    return compose(await this.composeProject(secret), args, run);
  }

  private runDocker(args: string[], opts: RunOptions = {}): Promise<Ran> {
    return docker(this.cluster.env, args, opts);
  }

  private composeFailure(what: string, r: Ran) {
    const lines = failureText(r, LOG_TAIL_ON_FAILURE);
    return fail.runtime("COMPOSE_FAILED", `${what} failed`, {
      hint: lines.length > 0 ? lines.join("\n") : undefined,
      details: { output: lines },
    });
  }

  private async containers(service?: string): Promise<ContainerInfo[]> {
    try {
      return await listContainers(this.cluster.env, this.project, service);
    } catch (err) {
      if (err instanceof DockerUnavailable) {
        throw fail.runtimeUnavailable(`the Docker engine does not answer: ${err.message}`);
      }
      throw err;
    }
  }

  private async container(node: string): Promise<ContainerInfo | undefined> {
    return pickContainer(await this.containers(node), node);
  }

  /** The running container of a node, or NOT_RUNNING. */
  private async running(node: string): Promise<ContainerInfo> {
    const c = await this.container(node);
    if (c?.status !== "running") throw fail.notRunning(node, `start it with \`phpcluster restart ${node}\``);
    return c;
  }

  // ----------------------------------------------------------------------------------- the cluster

  async prerequisites(): Promise<Prerequisite[]> {
    const [engine, cli] = await Promise.all([probeDocker(this.cluster.env), this.findCli()]);
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
        ok: cli !== undefined,
        detail: cli
          ? `${cli.command.join(" ")} ${cli.version} (${cli.generation})`
          : "neither `docker compose` nor `docker-compose` was found",
        package: "docker-compose",
      },
    ];
  }

  async exists(): Promise<boolean> {
    return (await this.containers()).length > 0;
  }

  async preflight(opts: { signal?: AbortSignal | undefined }): Promise<void> {
    throwIfAborted(opts.signal);
    const { bind, port } = this.cluster.topology.balancer;
    const taken = await portsInUse([{ node: "lb", host: bind, port }]);
    if (taken.length > 0) throw fail.portInUse(taken, PORT_HINT);
    await this.requireCli();
  }

  /** The memcached nodes' memory on the host's tmpfs (bind-mounted: it outlives a container, for a warm restart). */
  private async memoryDirs(): Promise<void> {
    for (const node of memcachedNodeNames(this.cluster.topology)) {
      await mkdir(path.join(composeMemoryDir(this.cluster.topology), node), { recursive: true });
    }
  }

  private launcherStatus(node: string): LauncherStatus | undefined {
    try {
      return JSON.parse(
        readFileSync(path.join(composeMemoryDir(this.cluster.topology), node, "status.json"), "utf8"),
      ) as LauncherStatus;
    } catch {
      return undefined;
    }
  }

  async prepare(opts: { signal?: AbortSignal | undefined; reporter: StepReporter }): Promise<void> {
    await this.memoryDirs();
    const project = await this.composeProject(await this.requireSecret());
    await opts.reporter.step("build images", () =>
      buildImages(project, {
        topology: this.cluster.topology,
        stateDir: this.cluster.stateDir,
        signal: opts.signal,
      }),
    );
  }

  async down(opts: { reporter: StepReporter }): Promise<void> {
    await opts.reporter.step("stop and remove every container", async () => {
      if (existsSync(this.composeFile) && (await this.findCli()) !== undefined) {
        const r = await this.runCompose(composeArgs.down(5));
        if (r.exitCode !== 0 && (await this.containers()).length > 0) {
          throw this.composeFailure("docker compose down", r);
        }
      }
      // what Compose could not see (no rendered file any more): by the project's label, never by name
      const left = await this.containers();
      if (left.length > 0) {
        const rm = await this.runDocker(["rm", "-f", "-v", ...left.map((c) => c.id)], { timeoutMs: 60_000 });
        if (rm.exitCode !== 0) {
          throw fail.runtime("STOP_FAILED", `could not remove ${left.map((c) => c.name).join(", ")}`, {
            hint: (rm.stderr || rm.shortMessage).trim() || undefined,
          });
        }
      }
      const networks = await this.runDocker(listNetworksArgs(this.project));
      const ids = parseIds(networks.stdout);
      if (networks.exitCode === 0 && ids.length > 0) await this.runDocker(["network", "rm", ...ids]);
      await rm(composeMemoryDir(this.cluster.topology), { recursive: true, force: true });
    });
  }

  // ----------------------------------------------------------------------------------- one node

  async startNode(opts: { node: string; signal?: AbortSignal | undefined }): Promise<void> {
    const { node, signal } = opts;
    nodeOf(this.cluster.topology, node);
    // a running container is left as it is (`up` would recreate it if its config changed)
    if ((await this.container(node))?.status === "running") return;
    if (memcachedNodeNames(this.cluster.topology).includes(node)) await this.memoryDirs();
    if (await this.startAsCreated(node, signal)) return;
    const r = await this.runCompose(composeArgs.upService(node), {
      secret: await this.requireSecret(),
      signal,
    });
    throwIfAborted(signal);
    if (r.exitCode === 0) return;
    const output = failureText(r, LOG_TAIL_ON_FAILURE);
    if (node === "lb" && /address already in use|port is already allocated/i.test(r.all)) {
      const { bind, port } = this.cluster.topology.balancer;
      throw fail.portInUse(
        [{ node: "lb", host: bind, port, holder: portHolder(port) }],
        PORT_TAKEN_WHILE_STARTING_HINT,
      );
    }
    throw fail.runtime("NODE_START_FAILED", `${node} did not start`, {
      hint: output.length > 0 ? output.join("\n") : undefined,
      details: { node, output },
    });
  }

  /**
   * `docker start` of the node's stopped container when Compose's `up` would only start it too:
   * it exists and was created from the service's config as rendered now (its config-hash label is
   * what `config --hash` says). False when `up` has to decide (no container, a changed config, or
   * a hash that cannot be read), and when the start fails, so that `up` reports why.
   */
  private async startAsCreated(node: string, signal: AbortSignal | undefined): Promise<boolean> {
    const c = await this.container(node);
    if (c === undefined || c.configHash === undefined || !["exited", "created"].includes(c.status))
      return false;
    const expected = (await this.configHashes())[node];
    throwIfAborted(signal);
    if (expected === undefined || expected !== c.configHash) return false;
    const r = await this.runDocker(containerArgs.start(c.id), { signal });
    throwIfAborted(signal);
    return r.exitCode === 0;
  }

  /** Compose's config hash of every service, read once per text of the rendered file. */
  private async configHashes(): Promise<Record<string, string>> {
    let file: string;
    try {
      file = await readFile(this.composeFile, "utf8");
    } catch {
      return {};
    }
    if (this.hashes?.file !== file) {
      const hashes = this.requireSecret()
        .then((secret) => this.runCompose(composeArgs.configHashes(), { secret }))
        .then((r) => (r.exitCode === 0 ? parseConfigHashes(r.stdout) : {}));
      this.hashes = { file, hashes };
    }
    return this.hashes.hashes;
  }

  async stopNode(opts: { node: string; graceMs: number }): Promise<void> {
    const { node } = opts;
    nodeOf(this.cluster.topology, node);
    const c = await this.container(node);
    if (c === undefined || !["running", "restarting", "paused"].includes(c.status)) return;
    // Apache's stop signal (SIGWINCH, set in the compose file) lets in-flight requests finish, within graceMs
    const graceSeconds = Math.max(1, Math.ceil(opts.graceMs / 1000));
    const r = await this.runDocker(containerArgs.stop(c.id, graceSeconds), {
      timeoutMs: graceSeconds * 1000 + COMPOSE_TIMEOUT_MS,
    });
    if (r.exitCode !== 0 && (await this.container(node))?.status === "running") {
      throw this.composeFailure(`stopping ${node}`, r);
    }
  }

  async killNode(opts: { node: string }): Promise<void> {
    const { node } = opts;
    nodeOf(this.cluster.topology, node);
    const c = await this.running(node);
    // a SIGKILLed container is not restarted by any restart policy
    const r = await this.runDocker(containerArgs.kill(c.id));
    if (r.exitCode !== 0 && (await this.container(node))?.status === "running") {
      throw this.composeFailure(`killing ${node}`, r);
    }
    try {
      await waitUntil(`${node} gone`, async () => (await this.container(node))?.status !== "running", {
        timeoutMs: KILL_WAIT_MS,
        intervalMs: 50,
      });
    } catch (err) {
      if (isPhpclusterError(err, "TIMEOUT")) {
        throw fail.runtime("KILL_FAILED", `${node} still runs after SIGKILL: ${err.message}`);
      }
      throw err;
    }
  }

  private async manifest(): Promise<ClusterManifest | undefined> {
    try {
      return JSON.parse(
        await readFile(path.join(this.cluster.renderDir, MANIFEST_PATH), "utf8"),
      ) as ClusterManifest;
    } catch {
      return undefined;
    }
  }

  /** `ip:port` inside the cluster network (from the rendered cluster.json); the balancer's host address for lb. */
  private async addresses(): Promise<Record<string, string>> {
    const t = this.cluster.topology;
    const out: Record<string, string> = {};
    const manifest = await this.manifest();
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

  async inspect(opts: { nodes?: string[] | undefined } = {}): Promise<Record<string, NodeReading>> {
    const t = this.cluster.topology;
    const nodes = opts.nodes ?? nodeNames(t);
    for (const node of nodes) nodeOf(t, node);
    const [containers, addresses] = await Promise.all([this.containers(), this.addresses()]);
    const out: Record<string, NodeReading> = {};
    for (const node of nodes) {
      const c = pickContainer(containers, node);
      const s = containerState(c);
      out[node] = {
        state: s.state,
        address: addresses[node] ?? "",
        ...(s.pid !== undefined && s.state !== "stopped" ? { pid: s.pid } : {}),
        ...(s.detail !== undefined ? { detail: s.detail } : {}),
        ...(containerFailed(c) ? { failed: true } : {}),
      };
      const launcher = memcachedNodeNames(t).includes(node) ? this.launcherStatus(node) : undefined;
      if (launcher) withLauncherStatus(out[node] as NodeReading, launcher);
    }
    return out;
  }

  // ----------------------------------------------------------------------------------- the balancer

  /**
   * `nginx -t` in the balancer's container. A stopped balancer has no container to test in: then
   * undefined, and nginx tests the config itself when it starts (and exits, which its start says).
   */
  async testBalancerConfig(): Promise<string | undefined> {
    const lb = await this.container("lb");
    if (lb?.status !== "running") return undefined;
    const test = await this.runDocker(["exec", lb.id, ...NGINX_TEST_ARGS], { timeoutMs: NGINX_TIMEOUT_MS });
    return test.exitCode === 0 ? undefined : (test.stderr || test.stdout || test.shortMessage).trim();
  }

  async balancerVersion(): Promise<string | undefined> {
    const lb = await this.container("lb");
    if (lb?.status !== "running") return undefined;
    const r = await this.runDocker(["exec", lb.id, "nginx", "-v"], { timeoutMs: NGINX_TIMEOUT_MS });
    return r.exitCode === 0 ? parseNginxVersion(`${r.stderr}\n${r.stdout}`) : undefined;
  }

  async balancerWorkers(): Promise<NginxWorker[]> {
    const lb = await this.running("lb");
    const r = await this.runDocker(["exec", lb.id, "bash", "-c", NGINX_WORKERS_SCRIPT], {
      timeoutMs: NGINX_TIMEOUT_MS,
    });
    if (r.exitCode !== 0) {
      throw fail.runtime("BALANCER_RELOAD_FAILED", "could not list the balancer's nginx workers", {
        hint: (r.stderr || r.shortMessage).trim() || undefined,
      });
    }
    return parseWorkers(r.stdout);
  }

  async signalBalancerReload(): Promise<void> {
    const lb = await this.running("lb");
    const r = await this.runDocker(["exec", lb.id, ...NGINX_RELOAD_ARGS], { timeoutMs: NGINX_TIMEOUT_MS });
    if (r.exitCode !== 0) {
      throw fail.runtime("BALANCER_RELOAD_FAILED", "nginx -s reload failed", {
        hint: (r.stderr || r.stdout || r.shortMessage).trim() || undefined,
      });
    }
  }

  // ----------------------------------------------------------------------------------- reads

  async logs(opts: { node?: string | undefined; tail: number }): Promise<LogChunk[]> {
    const t = this.cluster.topology;
    const nodes = opts.node ? [nodeOf(t, opts.node)] : clusterNodes(t);
    const containers = await this.containers();
    const chunks: LogChunk[] = [];
    for (const n of nodes) {
      const c = pickContainer(containers, n.name);
      if (!c) continue;
      const r = await this.runDocker(["logs", "--tail", String(opts.tail), c.id]);
      chunks.push({ node: n.name, file: `docker logs ${c.name}`, lines: lastLines(r.all, opts.tail) });
    }
    return chunks;
  }

  async builtImages(): Promise<BuiltImages> {
    const t = this.cluster.topology;
    const images = await imagesOf(
      (args) => this.runDocker(args),
      ["memcached", "app", "lb"].map((role) => `phpcluster-${t.name}-${role}`),
    );
    return { images, elsewhere: [] };
  }

  async removeBuiltImages(images: BuiltImage[]): Promise<void> {
    const refused = await removeImages((args) => this.runDocker(args, { timeoutMs: 120_000 }), images);
    if (refused)
      throw fail.runtime("IMAGE_REMOVE_FAILED", "the engine did not remove the images", { hint: refused });
  }

  async logSources(opts: { node?: string | undefined; tail: number }): Promise<LogSource[]> {
    const t = this.cluster.topology;
    const nodes = opts.node ? [nodeOf(t, opts.node)] : clusterNodes(t);
    const containers = await this.containers();
    return nodes.flatMap((n) => {
      const c = pickContainer(containers, n.name);
      return c
        ? [
            {
              node: n.name,
              kind: "command" as const,
              file: "docker",
              args: ["logs", "--follow", "--tail", String(opts.tail), c.id],
              env: dockerEnv(this.cluster.env),
            },
          ]
        : [];
    });
  }

  async httpGetNode(opts: {
    node: string;
    path: string;
    headers: Record<string, string>;
  }): Promise<HttpReply> {
    const { node, path: urlPath } = opts;
    nodeOf(this.cluster.topology, node, "app");
    let args: string[];
    try {
      args = curlArgs(urlPath, opts.headers, CURL_MAX_TIME_S);
    } catch (err) {
      throw fail.usage((err as Error).message);
    }
    const c = await this.running(node);
    const r = await this.runDocker(["exec", c.id, ...args], { timeoutMs: (CURL_MAX_TIME_S + 10) * 1000 });
    if (r.exitCode !== 0) {
      throw fail.runtime("NODE_REQUEST_FAILED", `GET ${urlPath} on ${node} failed`, {
        hint: (r.stderr || r.shortMessage).trim() || undefined,
      });
    }
    try {
      return parseCurlReply(r.raw);
    } catch (err) {
      throw fail.runtime(
        "NODE_REQUEST_FAILED",
        `GET ${urlPath} on ${node} failed: ${(err as Error).message}`,
      );
    }
  }

  /** The keys one Memcached node holds, with their values: one `docker exec` of the in-container helper. */
  async readStoreKeys(opts: { node: string; keys: string[] }): Promise<Record<string, string>> {
    const { node, keys } = opts;
    nodeOf(this.cluster.topology, node, "memcached");
    const bad = keys.find((k) => !STORE_KEY_PATTERN.test(k));
    if (bad !== undefined) throw fail.usage(`not a Memcached key: ${JSON.stringify(bad)}`);
    if (keys.length === 0) return {};
    const c = await this.running(node);
    const r = await this.runDocker(["exec", c.id, ...memcachedGetArgs(keys)], {
      timeoutMs: MEMCACHED_TIMEOUT_MS,
    });
    const what =
      keys.length === 1 ? `reading ${keys[0]} from ${node}` : `reading ${keys.length} keys from ${node}`;
    if (r.exitCode === 3) {
      throw fail.runtime("STORE_READ_FAILED", `${what} failed: no connection to memcached in ${c.name}`, {
        hint: r.stderr.trim() || undefined,
      });
    }
    // 0: END; 4, 5: the answer stopped short; 6: memcached answered an error: the parser says which
    if (r.exitCode === 0 || r.exitCode === 4 || r.exitCode === 5 || r.exitCode === 6) {
      let found: Record<string, string>;
      try {
        found = parseMemcachedGetMulti(r.raw, keys);
      } catch (err) {
        throw fail.runtime("STORE_READ_FAILED", `${what} failed: ${(err as Error).message}`);
      }
      if (r.exitCode === 0) return found;
    }
    throw fail.runtime("STORE_READ_FAILED", `${what} failed`, {
      hint: (r.stderr || r.shortMessage).trim() || undefined,
    });
  }
}
