import { createHash } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { fail, isPhpclusterError } from "../../errors.js";
import { writeFileAtomically } from "../../files/write.js";
import { COMPOSE_APP_PORT, COMPOSE_MEMCACHED_PORT } from "../../render/addresses.js";
import { CONTAINER, NGINX_CONF_PATH, STACK_FILE_PATH, SWARM_ENV } from "../../render/index.js";
import { appNodeNames, clusterNodes, memcachedNodeNames } from "../../topology/index.js";
import { readSecret } from "../cluster.js";
import {
  curlArgs,
  memcachedGetArgs,
  memcachedGetScript,
  nginxWorkersScript,
  parseCurlReply,
  parseMemcachedGetMulti,
  parseWorkers,
  STORE_KEY_PATTERN,
} from "../compose/reads.js";
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
  SwarmHost,
} from "../driver.js";
import {
  type BuiltImage,
  type BuiltImages,
  type Endpoint,
  imagesOf,
  type LogSource,
  lastLines,
  nodeNames,
  nodeOf,
  parseNginxVersion,
  removeImages,
  throwIfAborted,
  waitUntil,
  withLauncherStatus,
} from "../kit/index.js";
import { STATUS_KEY } from "../memcached/client.js";
import type { LauncherStatus } from "../memcached/launcher.js";
import {
  currentTask,
  engineOf,
  listNodes,
  listTasks,
  run,
  type SwarmNode,
  swarmInfo,
  taskState,
} from "./engine.js";
import { buildSwarmImages, type SwarmImages } from "./images.js";
import { type Placement, placeNodes } from "./placement.js";

/** A stack file's duration ("10s", "1m30s", "500ms") in nanoseconds, as Swarm keeps it. */
export function durationNs(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const units: Record<string, number> = { h: 3600e9, m: 60e9, s: 1e9, ms: 1e6, us: 1e3, ns: 1 };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g))
    total += Number(m[1]) * (units[m[2] as string] ?? 0);
  return Math.round(total);
}

/** What `prepare` decided, kept beside the rendered files: later commands deploy the same way. */
interface Deployment {
  images: SwarmImages;
  placement: Placement["hosts"];
  secretName: string;
}

const DEPLOYMENT_FILE = "swarm-deployment.json";
const LB_ENTRY = `${CONTAINER.nginxConfigDir}/entry.sh`;
const LB_CONF = `${CONTAINER.nginxConfigDir}/nginx.conf`;
/** nginx is not PID 1 in the balancer's container (its entry point is): the master's pid from its pid file. */
const LB_WORKERS_SCRIPT = nginxWorkersScript("/run/nginx.pid");
const STACK_TIMEOUT_MS = 120_000;
const GONE_TIMEOUT_MS = 90_000;
const READ_TIMEOUT_MS = 60_000;

/**
 * The swarm runtime: the topology as a Docker Swarm stack on the engine the Docker CLI points at
 * (a swarm manager). One service per node, `<cluster>_<node>`, pinned to the host `prepare` chose;
 * a node is started and stopped by scaling its service to 1 or 0. Node state comes from the
 * tasks (Swarm says `running` once the healthcheck passed). Reads inside the cluster network run
 * in a one-off container on the manager, attached to the stack's overlay network; faults are made
 * on a task's own host when PHPCLUSTER_SWARM_ENGINES names its engine.
 */
export class SwarmDriver implements RuntimeDriver {
  readonly name = "swarm" as const;
  /** One poll is a `docker stack ps` and a `docker inspect`. */
  readonly pollMs = 500;
  private deployment: Deployment | undefined;

  constructor(readonly cluster: ClusterContext) {}

  private get stack(): string {
    return this.cluster.topology.name;
  }

  private service(node: string): string {
    return `${this.stack}_${node}`;
  }

  private docker(
    args: string[],
    opts: { timeoutMs?: number; signal?: AbortSignal | undefined; env?: NodeJS.ProcessEnv } = {},
  ) {
    return run(opts.env ?? this.cluster.env, args, {
      timeoutMs: opts.timeoutMs ?? 30_000,
      signal: opts.signal,
    });
  }

  private failure(what: string, r: { stderr: string; stdout: string; shortMessage: string }) {
    return fail.runtime("COMPOSE_FAILED", `${what} failed`, {
      hint: (r.stderr || r.stdout || r.shortMessage).trim() || undefined,
    });
  }

  // ----------------------------------------------------------------------------------- the swarm

  async prerequisites(): Promise<Prerequisite[]> {
    const engine = await probeDocker(this.cluster.env);
    const info = engine.answers ? await swarmInfo(this.cluster.env) : undefined;
    return [
      {
        name: "Docker engine",
        ok: engine.answers,
        detail: engine.answers
          ? `server ${engine.serverVersion}${this.cluster.env.DOCKER_HOST ? ` at ${this.cluster.env.DOCKER_HOST}` : ""}`
          : `the Docker engine does not answer${engine.error ? `: ${engine.error}` : ""}`,
        package: "docker.io",
      },
      {
        name: "Swarm manager",
        ok: info?.state === "active" && info.manager,
        detail: !info
          ? "no engine to ask"
          : info.state !== "active"
            ? `this engine is not part of a swarm (${info.state}): \`docker swarm init\`, or point DOCKER_HOST at a manager`
            : info.manager
              ? `a manager of a swarm of ${info.nodes} node${info.nodes === 1 ? "" : "s"}`
              : "this engine is a worker: point DOCKER_HOST (or the Docker context) at a manager",
      },
    ];
  }

  async exists(): Promise<boolean> {
    const r = await this.docker([
      "service",
      "ls",
      "-q",
      "--filter",
      `label=com.docker.stack.namespace=${this.stack}`,
    ]);
    if (r.exitCode !== 0)
      throw fail.runtimeUnavailable(
        `the Docker engine does not answer: ${(r.stderr || r.shortMessage).trim()}`,
      );
    return r.stdout.trim().length > 0;
  }

  async preflight(opts: { signal?: AbortSignal | undefined }): Promise<void> {
    throwIfAborted(opts.signal);
    const t = this.cluster.topology;
    if (t.balancer.bind !== "0.0.0.0" && t.balancer.bind !== "::") {
      throw fail.runtime(
        "TOPOLOGY_INVALID",
        `${this.cluster.topologyFileShown}: balancer.bind: the swarm runtime publishes the balancer on every address of its host (a host-mode port cannot bind one address): write balancer.bind: 0.0.0.0`,
        { hint: "firewall the port where it must not be reached; nothing was started" },
      );
    }
    const info = await swarmInfo(this.cluster.env);
    if (info.nodes > 1 && !t.images.registry) {
      throw fail.runtime(
        "TOPOLOGY_INVALID",
        `${this.cluster.topologyFileShown}: images.registry is required: the swarm has ${info.nodes} nodes, and each must pull the images from a registry`,
        {
          hint: "set images.registry to a registry every host can pull from, e.g. images.registry: 10.0.0.11:5000/phpcluster; nothing was started",
        },
      );
    }
  }

  private deploymentFile(): string {
    return path.join(this.cluster.stateDir, DEPLOYMENT_FILE);
  }

  private async readDeployment(): Promise<Deployment | undefined> {
    if (this.deployment) return this.deployment;
    try {
      this.deployment = JSON.parse(await readFile(this.deploymentFile(), "utf8")) as Deployment;
    } catch {
      this.deployment = undefined;
    }
    return this.deployment;
  }

  private async secretName(): Promise<string> {
    const secret = await readSecret(this.cluster.stateDir);
    if (!secret) throw fail.runtime("SECRET_MISSING", `the probe secret of ${this.stack} is missing`);
    return `${this.stack}_probe_${createHash("sha256").update(secret).digest("hex").slice(0, 12)}`;
  }

  async prepare(opts: { signal?: AbortSignal | undefined; reporter: StepReporter }): Promise<void> {
    const t = this.cluster.topology;
    const images = await opts.reporter.step("build and push images", () =>
      buildSwarmImages({
        env: this.cluster.env,
        topology: t,
        renderDir: this.cluster.renderDir,
        stateDir: this.cluster.stateDir,
        docroot: this.cluster.docroot,
        signal: opts.signal,
      }),
    );
    const placement = placeNodes(
      t,
      await listNodes(this.cluster.env),
      (await swarmInfo(this.cluster.env)).nodeId,
    );
    for (const note of placement.notes) opts.reporter.warn(note);
    this.deployment = { images, placement: placement.hosts, secretName: await this.secretName() };
    await writeFileAtomically(this.deploymentFile(), `${JSON.stringify(this.deployment, null, 2)}\n`);
    // every service at 0 tasks: the lifecycle starts them one by one, each healthy before the next
    await opts.reporter.step("deploy the stack", () =>
      this.deploy(Object.fromEntries(nodeNames(t).map((n) => [n, 0])), opts.signal),
    );
  }

  /** `docker stack deploy` of the rendered stack (or another stack file beside it) with what only the deployment knows. */
  private async deploy(
    replicas: Record<string, number>,
    signal?: AbortSignal,
    stackFile = STACK_FILE_PATH,
  ): Promise<void> {
    const d = await this.readDeployment();
    if (!d) throw fail.notRunning(`cluster ${this.stack}`);
    const env: NodeJS.ProcessEnv = {
      ...this.cluster.env,
      [SWARM_ENV.image("app")]: d.images.app,
      [SWARM_ENV.image("lb")]: d.images.lb,
      [SWARM_ENV.image("memcached")]: d.images.memcached,
      [SWARM_ENV.secretName]: d.secretName,
    };
    for (const node of nodeNames(this.cluster.topology)) {
      env[SWARM_ENV.host(node)] = d.placement[node] ?? "";
      env[SWARM_ENV.replicas(node)] = String(replicas[node] ?? 0);
    }
    const r = await run(
      env,
      [
        "stack",
        "deploy",
        "--prune",
        "--resolve-image",
        "never",
        "-c",
        path.join(this.cluster.renderDir, stackFile),
        this.stack,
      ],
      { timeoutMs: STACK_TIMEOUT_MS, signal, cwd: this.cluster.renderDir },
    );
    throwIfAborted(signal);
    if (r.exitCode !== 0) throw this.failure("docker stack deploy", r);
  }

  async down(opts: { reporter: StepReporter }): Promise<void> {
    await opts.reporter.step("remove the stack", async () => {
      const tasks = (await listTasks(this.cluster.env, this.stack)).map((t) => t.id);
      const r = await this.docker(["stack", "rm", this.stack], { timeoutMs: STACK_TIMEOUT_MS });
      if (r.exitCode !== 0 && !/nothing found in stack/i.test(r.stderr + r.stdout))
        throw this.failure("docker stack rm", r);
      // stack rm returns at once: wait until every service, task container and network is gone
      await waitUntil(
        `the stack ${this.stack} gone`,
        async () => {
          const left = await this.docker([
            "network",
            "ls",
            "-q",
            "--filter",
            `label=com.docker.stack.namespace=${this.stack}`,
          ]);
          const services = await this.docker([
            "service",
            "ls",
            "-q",
            "--filter",
            `label=com.docker.stack.namespace=${this.stack}`,
          ]);
          return left.stdout.trim() === "" && services.stdout.trim() === "";
        },
        { timeoutMs: GONE_TIMEOUT_MS, intervalMs: 500 },
      );
      await this.tasksGone(tasks);
    });
    const d = await this.readDeployment();
    if (d && memcachedNodeNames(this.cluster.topology).length > 0) {
      await opts.reporter.step("remove the memcached memory files on every host", () =>
        this.removeMemoryFiles(d),
      );
    }
  }

  /**
   * The memcached nodes' memory files live in each host's /dev/shm: a global service (one task on
   * every active host) removes this cluster's folder there; its healthcheck passes once the folder
   * is gone, so every task running means every host is clean. Then it is removed with its
   * containers (a global *job* would leave its finished containers behind on every host).
   */
  private async removeMemoryFiles(d: Deployment): Promise<void> {
    const name = `${this.stack}_phpcluster-cleanup`;
    const dir = `/shm/phpcluster/swarm-${this.stack}`;
    await this.removeService(name);
    const create = await this.docker([
      "service",
      "create",
      "--detach",
      "--name",
      name,
      "--mode",
      "global",
      "--label",
      `io.phpcluster.cluster=${this.stack}`,
      "--container-label",
      `io.phpcluster.cluster=${this.stack}`,
      "--mount",
      "type=bind,source=/dev/shm,target=/shm",
      "--restart-condition",
      "none",
      "--stop-signal",
      "SIGKILL",
      "--health-cmd",
      `test ! -e ${dir}`,
      "--health-interval",
      "1s",
      "--health-retries",
      "30",
      "--entrypoint",
      "/bin/sh",
      d.images.memcached,
      "-c",
      `rm -rf ${dir} && exec sleep 3600`,
    ]);
    if (create.exitCode !== 0) throw this.failure("the memory-file clean-up", create);
    try {
      await waitUntil(
        "the memory-file clean-up on every host",
        async () => {
          const r = await this.docker([
            "service",
            "ps",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.CurrentState}}",
            name,
          ]);
          const states = r.stdout.split("\n").filter(Boolean);
          const hosts = (await listNodes(this.cluster.env)).filter((n) => n.ready && n.active).length;
          return states.length >= hosts && states.every((x) => x.startsWith("Running"));
        },
        { timeoutMs: GONE_TIMEOUT_MS, intervalMs: 500 },
      );
    } finally {
      await this.removeService(name);
    }
  }

  /** Remove a service and wait until its tasks (and so their containers) are gone. */
  private async removeService(name: string): Promise<void> {
    const ids = await this.docker(["service", "ps", "-q", "--no-trunc", name]);
    const tasks = ids.exitCode === 0 ? ids.stdout.split(/\s+/).filter(Boolean) : [];
    await this.docker(["service", "rm", name]);
    await this.tasksGone(tasks);
  }

  /** Swarm deletes a task once its container has shut down on its host. */
  private async tasksGone(tasks: string[]): Promise<void> {
    if (tasks.length === 0) return;
    await waitUntil(
      "the tasks' containers gone",
      async () => {
        const r = await this.docker(["inspect", "--type", "task", "--format", "{{.ID}}", ...tasks]);
        return r.stdout.trim() === "";
      },
      { timeoutMs: GONE_TIMEOUT_MS, intervalMs: 500 },
    );
  }

  // ----------------------------------------------------------------------------------- one node

  private async scale(node: string, replicas: number, signal?: AbortSignal): Promise<void> {
    const r = await this.docker(["service", "scale", "--detach", `${this.service(node)}=${replicas}`], {
      signal,
    });
    if (r.exitCode !== 0) throw this.failure(`scaling ${node} to ${replicas}`, r);
  }

  async startNode(opts: { node: string; signal?: AbortSignal | undefined }): Promise<void> {
    nodeOf(this.cluster.topology, opts.node);
    await this.rollOut(opts.node, opts.signal);
    await this.scale(opts.node, 1, opts.signal);
  }

  /** What each service runs now: its replica count and its configs' names by target path. */
  private async deployedServices(): Promise<
    Map<string, { replicas: number; configs: Map<string, string>; stopGraceNs: number | undefined }>
  > {
    const names = nodeNames(this.cluster.topology).map((n) => this.service(n));
    const r = await this.docker(["service", "inspect", ...names]);
    if (r.exitCode !== 0) throw this.failure("docker service inspect", r);
    const specs = JSON.parse(r.stdout) as {
      Spec: {
        Name: string;
        Mode?: { Replicated?: { Replicas?: number } };
        TaskTemplate: {
          ContainerSpec: {
            Configs?: { ConfigName: string; File?: { Name: string } }[];
            StopGracePeriod?: number;
          };
        };
      };
    }[];
    return new Map(
      specs.map((x) => [
        x.Spec.Name.slice(this.stack.length + 1),
        {
          replicas: x.Spec.Mode?.Replicated?.Replicas ?? 0,
          stopGraceNs: x.Spec.TaskTemplate.ContainerSpec.StopGracePeriod,
          configs: new Map(
            (x.Spec.TaskTemplate.ContainerSpec.Configs ?? []).map((c) => [c.File?.Name ?? "", c.ConfigName]),
          ),
        },
      ]),
    );
  }

  /**
   * Give one node the configs rendered for it now (a `config set` writes new files; their Swarm
   * configs are named by content, so a change is a new version), every other service keeping
   * exactly what it runs: a stack file beside the rendered one in which the others' configs are
   * the deployed versions (external), deployed with every service's current replica count. Only
   * this node's service changes; called while it is at 0 tasks, so nothing restarts.
   */
  private async rollOut(node: string, signal?: AbortSignal): Promise<void> {
    const text = await readFile(path.join(this.cluster.renderDir, STACK_FILE_PATH), "utf8");
    const stack = parseYaml(text) as {
      services: Record<
        string,
        { configs?: { source: string; target: string }[]; stop_grace_period?: string }
      >;
      configs: Record<string, { name: string; file?: string; external?: boolean }>;
    };
    const deployed = await this.deployedServices();
    const rendered = (svc: string) =>
      new Map((stack.services[svc]?.configs ?? []).map((c) => [c.target, stack.configs[c.source]?.name]));
    const mine = deployed.get(node);
    if (!mine) throw fail.notRunning(node);
    const differs =
      [...rendered(node)].some(([target, name]) => mine.configs.get(target) !== name) ||
      mine.stopGraceNs !== durationNs(stack.services[node]?.stop_grace_period);
    if (!differs) return;
    for (const [svc, spec] of Object.entries(stack.services)) {
      if (svc === node) continue;
      const now = deployed.get(svc);
      for (const ref of spec.configs ?? []) {
        const name = now?.configs.get(ref.target);
        if (!name || name === stack.configs[ref.source]?.name) continue;
        const key = `deployed_${createHash("sha256").update(name).digest("hex").slice(0, 12)}`;
        stack.configs[key] = { name, external: true };
        ref.source = key;
      }
    }
    const file = `${STACK_FILE_PATH.replace(/\.yml$/, "")}.rollout-${node}.yml`;
    const full = path.join(this.cluster.renderDir, file);
    await writeFileAtomically(full, stringifyYaml(stack, { lineWidth: 0, aliasDuplicateObjects: false }));
    try {
      const replicas = Object.fromEntries([...deployed].map(([n, d]) => [n, d.replicas]));
      await this.deploy(replicas, signal, file);
    } finally {
      await rm(full, { force: true });
    }
  }

  async stopNode(opts: { node: string; graceMs: number }): Promise<void> {
    const { node } = opts;
    nodeOf(this.cluster.topology, node);
    await this.scale(node, 0);
    await waitUntil(
      `${node} stopped`,
      async () => {
        const tasks = (await listTasks(this.cluster.env, this.stack)).filter((t) => t.node === node);
        return tasks.every((t) => t.state !== "running" && t.state !== "starting");
      },
      { timeoutMs: opts.graceMs + 30_000, intervalMs: 250 },
    );
  }

  private async hostsById(): Promise<Map<string, SwarmNode>> {
    return new Map((await listNodes(this.cluster.env)).map((n) => [n.id, n]));
  }

  async killNode(opts: { node: string }): Promise<string | undefined> {
    const { node } = opts;
    nodeOf(this.cluster.topology, node);
    const task = currentTask(await listTasks(this.cluster.env, this.stack), node);
    if (!task || task.state !== "running" || !task.containerId) throw fail.notRunning(node);
    const host = (await this.hostsById()).get(task.nodeId);
    const endpoint = engineOf(this.cluster.env, host);
    if (!endpoint) return this.removeTaskWithoutGrace(node, task.id, host?.hostname ?? task.nodeId);
    const r = await run({ ...this.cluster.env, DOCKER_HOST: endpoint }, ["kill", task.containerId], {
      timeoutMs: 30_000,
    });
    if (r.exitCode !== 0 && !/is not running|No such container/i.test(r.stderr)) {
      throw fail.runtime(
        "KILL_FAILED",
        `killing ${node} (container ${task.containerId.slice(0, 12)} on ${host?.hostname}) failed`,
        {
          hint: (r.stderr || r.shortMessage).trim() || undefined,
        },
      );
    }
    await this.taskEnded(node, task.id, 15_000, "after SIGKILL");
    return undefined;
  }

  /** Wait until a killed or removed task no longer runs; KILL_FAILED when it still does. */
  private async taskEnded(node: string, taskId: string, timeoutMs: number, after: string): Promise<void> {
    try {
      await waitUntil(
        `${node} gone`,
        async () => {
          const now = (await listTasks(this.cluster.env, this.stack)).find((t) => t.id === taskId);
          return now?.state !== "running";
        },
        { timeoutMs, intervalMs: 100 },
      );
    } catch (err) {
      if (isPhpclusterError(err, "TIMEOUT"))
        throw fail.runtime("KILL_FAILED", `${node} still runs ${after}: ${err.message}`);
      throw err;
    }
  }

  /**
   * The kill when the task's host engine is not known: through the manager, the service's stop
   * grace period set to 0 and its task removed (scaled to 0), so Swarm's agent SIGKILLs the
   * container right after the stop signal. The next start deploys the rendered spec again (its
   * grace period back).
   */
  private async removeTaskWithoutGrace(node: string, taskId: string, host: string): Promise<string> {
    const r = await this.docker([
      "service",
      "update",
      "--detach",
      "--stop-grace-period",
      "0s",
      "--replicas",
      "0",
      this.service(node),
    ]);
    if (r.exitCode !== 0) throw this.failure(`removing the task of ${node}`, r);
    await this.taskEnded(node, taskId, 30_000, "after its task's removal");
    return `${node}: the Docker engine of its host ${host} is not known (PHPCLUSTER_SWARM_ENGINES), so its task was removed through the manager with no grace period instead of a SIGKILL on the host`;
  }

  async inspect(opts: { nodes?: string[] | undefined } = {}): Promise<Record<string, NodeReading>> {
    const t = this.cluster.topology;
    const nodes = opts.nodes ?? nodeNames(t);
    for (const node of nodes) nodeOf(t, node);
    const [tasks, hosts] = await Promise.all([listTasks(this.cluster.env, this.stack), this.hostsById()]);
    const out: Record<string, NodeReading> = {};
    for (const node of nodes) {
      const task = currentTask(tasks, node);
      const s = taskState(task);
      const host = task ? hosts.get(task.nodeId) : undefined;
      const port =
        node === "lb"
          ? t.balancer.port
          : memcachedNodeNames(t).includes(node)
            ? COMPOSE_MEMCACHED_PORT
            : COMPOSE_APP_PORT;
      out[node] = {
        state: s.state,
        address:
          node === "lb" && host ? `${host.addr}:${port}` : task?.address ? `${task.address}:${port}` : "",
        ...(s.detail ? { detail: s.detail } : {}),
        ...(s.failed ? { failed: true } : {}),
        ...(host ? { host: { id: host.id, hostname: host.hostname, address: host.addr } } : {}),
      };
    }
    await this.readLaunchers(tasks, out);
    return out;
  }

  /**
   * What the launcher of each running memcached node in `out` says (its status key, read from the
   * balancer's container on the manager, which is on the cluster network): a node whose port is
   * open but that still holds the sessions' locks is warming, not yet running. Without the
   * balancer, or an answer, a reading keeps what Swarm says.
   */
  private async readLaunchers(
    tasks: Awaited<ReturnType<typeof listTasks>>,
    out: Record<string, NodeReading>,
  ) {
    const nodes = memcachedNodeNames(this.cluster.topology).filter((n) => out[n]?.state === "running");
    const lb = currentTask(tasks, "lb");
    if (nodes.length === 0 || !lb || lb.state !== "running" || !lb.containerId) return;
    const id = lb.containerId;
    await Promise.all(
      nodes.map(async (node) => {
        const r = await this.docker(
          ["exec", id, ...memcachedGetArgs([STATUS_KEY], memcachedGetScript(COMPOSE_MEMCACHED_PORT, node))],
          { timeoutMs: 10_000 },
        ).catch(() => undefined);
        if (r?.exitCode !== 0) return;
        let status: Partial<LauncherStatus> | undefined;
        try {
          const raw = parseMemcachedGetMulti(r.raw, [STATUS_KEY])[STATUS_KEY];
          status = raw === undefined ? undefined : (JSON.parse(raw) as Partial<LauncherStatus>);
        } catch {
          return;
        }
        const reading = out[node];
        if (status?.state && reading) withLauncherStatus(reading, { ...status, state: status.state });
      }),
    );
  }

  async hosts(): Promise<{ host: SwarmHost; ready: boolean; active: boolean; nodes: string[] }[]> {
    const d = await this.readDeployment();
    return (await listNodes(this.cluster.env)).map((n) => ({
      host: { id: n.id, hostname: n.hostname, address: n.addr },
      ready: n.ready,
      active: n.active,
      nodes: nodeNames(this.cluster.topology).filter((node) => d?.placement[node] === n.id),
    }));
  }

  async setHostAvailability(opts: { host: string; availability: "drain" | "active" }): Promise<void> {
    const r = await this.docker(["node", "update", "--availability", opts.availability, opts.host]);
    if (r.exitCode !== 0) throw this.failure(`setting ${opts.host} ${opts.availability}`, r);
  }

  async balancerEndpoint(): Promise<Endpoint> {
    const t = this.cluster.topology;
    const lb = (await this.inspect({ nodes: ["lb"] })).lb;
    const d = await this.readDeployment();
    let host = lb?.host?.address;
    if (!host && d) host = (await this.hostsById()).get(d.placement.lb ?? "")?.addr;
    if (!host) throw fail.notRunning("the balancer");
    return t.balancer.tls
      ? { scheme: "https", host, port: t.balancer.tls.port }
      : { scheme: "http", host, port: t.balancer.port };
  }

  // ----------------------------------------------------------------------------------- the balancer

  /** The balancer's running container: on the manager phpcluster talks to (see placement). */
  private async lbContainer(): Promise<string> {
    const task = currentTask(await listTasks(this.cluster.env, this.stack), "lb");
    if (!task || task.state !== "running" || !task.containerId) throw fail.notRunning("lb");
    return task.containerId;
  }

  /** The balancer's entry point in `test` or `push` mode, with the rendered nginx.conf on stdin. */
  private async lbEntry(mode: "test" | "push"): Promise<{ exitCode: number | undefined; output: string }> {
    const id = await this.lbContainer();
    const conf = await readFile(path.join(this.cluster.renderDir, NGINX_CONF_PATH), "utf8");
    const r = await run(
      this.cluster.env,
      ["exec", "-i", id, "/bin/sh", LB_ENTRY, mode, LB_CONF, ...appNodeNames(this.cluster.topology)],
      { timeoutMs: 30_000, input: conf },
    );
    return { exitCode: r.exitCode, output: (r.stderr || r.stdout || r.shortMessage).trim() };
  }

  /** `nginx -t` of the rendered nginx.conf (with the nodes' current addresses) in the running balancer. */
  async testBalancerConfig(): Promise<string | undefined> {
    const lb = (await this.inspect({ nodes: ["lb"] })).lb;
    if (lb?.state !== "running") return undefined;
    const r = await this.lbEntry("test");
    return r.exitCode === 0 ? undefined : r.output;
  }

  async balancerVersion(): Promise<string | undefined> {
    const id = await this.lbContainer().catch(() => undefined);
    if (!id) return undefined;
    const r = await this.docker(["exec", id, "nginx", "-v"]);
    return r.exitCode === 0 ? parseNginxVersion(`${r.stderr}\n${r.stdout}`) : undefined;
  }

  async balancerWorkers(): Promise<NginxWorker[]> {
    const id = await this.lbContainer();
    const r = await this.docker(["exec", id, "bash", "-c", LB_WORKERS_SCRIPT]);
    if (r.exitCode !== 0) {
      throw fail.runtime("BALANCER_RELOAD_FAILED", "could not list the balancer's nginx workers", {
        hint: (r.stderr || r.shortMessage).trim() || undefined,
      });
    }
    return parseWorkers(r.stdout);
  }

  /** The rendered nginx.conf becomes the running balancer's source (a drain, a put-back), and nginx reloads. */
  async signalBalancerReload(): Promise<void> {
    const r = await this.lbEntry("push");
    if (r.exitCode !== 0)
      throw fail.runtime("BALANCER_RELOAD_FAILED", "the balancer did not take the new nginx.conf", {
        hint: r.output || undefined,
      });
  }

  // ----------------------------------------------------------------------------------- reads

  async logs(opts: { node?: string | undefined; tail: number }): Promise<LogChunk[]> {
    const t = this.cluster.topology;
    const nodes = opts.node ? [nodeOf(t, opts.node)] : clusterNodes(t);
    const chunks: LogChunk[] = [];
    for (const n of nodes) {
      const r = await this.docker([
        "service",
        "logs",
        "--no-task-ids",
        "--tail",
        String(opts.tail),
        this.service(n.name),
      ]);
      chunks.push({
        node: n.name,
        file: `docker service logs ${this.service(n.name)}`,
        lines: lastLines(r.all, opts.tail),
      });
    }
    return chunks;
  }

  /**
   * The images on the manager and on every host whose engine PHPCLUSTER_SWARM_ENGINES names (the
   * hosts pulled them by tag); a host whose engine is not known or does not answer, and the
   * registry create pushed to, are said in `elsewhere`: phpcluster cannot see or remove those copies.
   */
  async builtImages(): Promise<BuiltImages> {
    const t = this.cluster.topology;
    const registry = t.images.registry ? `${t.images.registry}/` : "";
    const repos = ["app", "lb", "memcached"].map((role) => `${registry}phpcluster-${t.name}-${role}`);
    const elsewhere: string[] = [];
    if (t.images.registry)
      elsewhere.push(
        `the registry ${t.images.registry} keeps the copies create pushed (phpcluster does not delete from a registry)`,
      );
    const [info, hosts] = await Promise.all([swarmInfo(this.cluster.env), listNodes(this.cluster.env)]);
    const self = hosts.find((h) => h.id === info.nodeId);
    const label = hosts.length > 1 ? self?.hostname : undefined;
    const images = (await imagesOf((args) => this.docker(args), repos)).map((i) =>
      label ? { ...i, host: label } : i,
    );
    const seen = new Set([this.cluster.env.DOCKER_HOST ?? ""]);
    for (const host of hosts) {
      if (host.id === info.nodeId) continue;
      const endpoint = engineOf(this.cluster.env, host);
      if (!endpoint) {
        elsewhere.push(
          `${host.hostname}: its engine is not known (PHPCLUSTER_SWARM_ENGINES), so the images it pulled stay there`,
        );
        continue;
      }
      if (seen.has(endpoint)) continue;
      seen.add(endpoint);
      const env = { ...this.cluster.env, DOCKER_HOST: endpoint };
      const probe = await this.docker(["version", "--format", "{{.Server.Version}}"], {
        env,
        timeoutMs: 10_000,
      });
      if (probe.exitCode !== 0) {
        elsewhere.push(
          `${host.hostname}: its engine at ${endpoint} did not answer (${(probe.stderr || probe.shortMessage).trim().split("\n")[0]}), so the images it pulled stay there`,
        );
        continue;
      }
      const found = await imagesOf((args) => this.docker(args, { env }), repos);
      images.push(...found.map((i) => ({ ...i, host: host.hostname, engine: endpoint })));
    }
    return { images, elsewhere };
  }

  /** Each copy removed on its own engine; every engine is tried before a refusal is reported. */
  async removeBuiltImages(images: BuiltImage[]): Promise<void> {
    const byEngine = new Map<string, BuiltImage[]>();
    for (const i of images) byEngine.set(i.engine ?? "", [...(byEngine.get(i.engine ?? "") ?? []), i]);
    const refusals: string[] = [];
    for (const [engine, copies] of byEngine) {
      const env = engine ? { ...this.cluster.env, DOCKER_HOST: engine } : this.cluster.env;
      const refused = await removeImages((args) => this.docker(args, { env, timeoutMs: 120_000 }), copies);
      if (refused) refusals.push(`${copies[0]?.host ?? "the manager"}: ${refused}`);
    }
    if (refusals.length > 0)
      throw fail.runtime(
        "IMAGE_REMOVE_FAILED",
        `${refusals.length === 1 ? "an engine" : `${refusals.length} engines`} did not remove the images`,
        { hint: refusals.join("\n") },
      );
  }

  async logSources(opts: { node?: string | undefined; tail: number }): Promise<LogSource[]> {
    const t = this.cluster.topology;
    const nodes = opts.node ? [nodeOf(t, opts.node)] : clusterNodes(t);
    return nodes.map((n) => ({
      node: n.name,
      kind: "command" as const,
      file: "docker",
      args: [
        "service",
        "logs",
        "--follow",
        "--no-task-ids",
        "--tail",
        String(opts.tail),
        this.service(n.name),
      ],
      env: { ...this.cluster.env, NO_COLOR: "1" },
    }));
  }

  /** A one-off container on the manager, on the stack's overlay network (attachable): reads from inside. */
  private async inNetwork(image: string, args: string[]) {
    return this.docker(
      [
        "run",
        "--rm",
        "--network",
        `${this.stack}_backend`,
        "--label",
        `io.phpcluster.cluster=${this.stack}`,
        "--entrypoint",
        args[0] as string,
        image,
        ...args.slice(1),
      ],
      { timeoutMs: READ_TIMEOUT_MS },
    );
  }

  async httpGetNode(opts: {
    node: string;
    path: string;
    headers: Record<string, string>;
  }): Promise<HttpReply> {
    const { node, path: urlPath } = opts;
    nodeOf(this.cluster.topology, node, "app");
    const d = await this.readDeployment();
    if (!d) throw fail.notRunning(`cluster ${this.stack}`);
    let args: string[];
    try {
      args = curlArgs(urlPath, opts.headers, 30, node);
    } catch (err) {
      throw fail.usage((err as Error).message);
    }
    const r = await this.inNetwork(d.images.app, args);
    if (r.exitCode !== 0) {
      throw fail.runtime("NODE_REQUEST_FAILED", `GET ${urlPath} on ${node} failed`, {
        hint: (r.stderr || r.shortMessage).trim() || undefined,
      });
    }
    return parseCurlReply(r.raw);
  }

  async readStoreKeys(opts: { node: string; keys: string[] }): Promise<Record<string, string>> {
    const { node, keys } = opts;
    nodeOf(this.cluster.topology, node, "memcached");
    const bad = keys.find((k) => !STORE_KEY_PATTERN.test(k));
    if (bad !== undefined) throw fail.usage(`not a Memcached key: ${JSON.stringify(bad)}`);
    if (keys.length === 0) return {};
    const d = await this.readDeployment();
    if (!d) throw fail.notRunning(`cluster ${this.stack}`);
    const r = await this.inNetwork(
      d.images.memcached,
      memcachedGetArgs(keys, memcachedGetScript(COMPOSE_MEMCACHED_PORT, node)),
    );
    if (r.exitCode === 0) return parseMemcachedGetMulti(r.raw, keys);
    throw fail.runtime(
      "STORE_READ_FAILED",
      `reading ${keys.length} key${keys.length === 1 ? "" : "s"} from ${node} failed`,
      {
        hint: (r.stderr || r.shortMessage).trim() || undefined,
      },
    );
  }
}
