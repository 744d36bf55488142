import type { NodeRole, RuntimeName, Topology } from "../topology/index.js";
import type { BuiltImage, BuiltImages } from "./kit/images.js";
import type { LogSource } from "./kit/logs.js";

/** Everything a driver needs to know about one cluster. */
export interface ClusterContext {
  topology: Topology;
  /** The topology file as given on the command line, for messages. */
  topologyFileShown: string;
  /** Absolute path of the topology file and its directory. */
  topologyFile: string;
  topologyDir: string;
  /** `.phpcluster/<name>/` beside the topology file: rendered files, pids, logs, the probe secret. */
  stateDir: string;
  /** Where the rendered files of this runtime live (`<stateDir>/<runtime>`). */
  renderDir: string;
  /** Absolute document root of the app nodes. */
  docroot: string;
  /** The command's environment: PATH, DOCKER_HOST, PHPCLUSTER_* overrides. */
  env: NodeJS.ProcessEnv;
}

export type NodeState = "running" | "stopped" | "unhealthy";

/** A swarm host: its node id, hostname and the address other hosts reach it at. */
export interface SwarmHost {
  id: string;
  hostname: string;
  address: string;
}

export interface NodeStatus {
  name: string;
  role: NodeRole;
  state: NodeState;
  /** Where the node listens, as seen from this host (native) or inside the cluster network (compose). */
  address: string;
  pid?: number | undefined;
  detail?: string | undefined;
  /** Memcached nodes: the items held, and whether the node is filling itself from its peers. */
  items?: number | undefined;
  warming?: boolean | undefined;
  /** Memcached nodes: how the node last came back (time away, copy time, what it copied), when it did. */
  recovery?: NodeReading["recovery"];
  /** swarm: the host the node runs on. */
  host?: SwarmHost | undefined;
}

/** One reading of one node, as its runtime sees it. */
export interface NodeReading {
  state: NodeState;
  /** Waiting will not make it healthy: it exited, or its healthcheck gave up. */
  failed?: boolean | undefined;
  detail?: string | undefined;
  pid?: number | undefined;
  address: string;
  items?: number | undefined;
  warming?: boolean | undefined;
  /** swarm: the host the node's task runs on. */
  host?: SwarmHost | undefined;
  /** Memcached nodes: the memcached server process (the node's pid is its launcher's). */
  memcachedPid?: number | undefined;
  /** Memcached nodes: the launcher's last return (time away, copy time, what it copied). */
  recovery?: { reason: string; awayMs: number; copyMs: number; copied: number; holdMs: number } | undefined;
}

export interface StepReporter {
  step<T>(title: string, work: () => Promise<T>): Promise<T>;
  warn(message: string): void;
  info(message: string): void;
}

/** A reporter that says nothing (internal steps of a scenario, cleanup). */
export const QUIET: StepReporter = { step: (_t, work) => work(), warn: () => {}, info: () => {} };

export interface Prerequisite {
  name: string;
  ok: boolean;
  detail: string;
  /** Debian package that provides it, for `doctor --install`. */
  package?: string;
}

export interface LogChunk {
  node: string;
  file: string;
  lines: string[];
}

/** An HTTP response read through the runtime (native: directly; compose: from inside the network). */
export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface NginxWorker {
  pid: number;
  /** Still accepting connections: its title is "nginx: worker process" (not "... is shutting down"). */
  accepting: boolean;
}

/**
 * One runtime's transport, bound to one cluster. Everything above it (the order of start-up, the
 * wait for health, rollback, drains, reloads, errors and their words) lives in the lifecycle and
 * the runtime kit, so a driver only says how to do one thing on its runtime. Commands never branch
 * on the runtime; a driver that cannot do something throws `fail.notSupported`.
 */
export interface RuntimeDriver {
  readonly name: RuntimeName;
  readonly cluster: ClusterContext;
  /** How often waits poll this runtime for a node's state (a native probe is cheap, `docker inspect` is not). */
  readonly pollMs: number;
  /** What this runtime needs on this machine, and whether it is there. */
  prerequisites(): Promise<Prerequisite[]>;
  /** Is any process or container of this cluster present (running or not)? */
  exists(): Promise<boolean>;
  /** Before anything starts: what would make `up` fail half-way (a port in use, an unreadable docroot). */
  preflight(opts: { signal?: AbortSignal | undefined }): Promise<void>;
  /** What the nodes need before they start: native launches its supervisor, compose builds images. */
  prepare(opts: { signal?: AbortSignal | undefined; reporter: StepReporter }): Promise<void>;
  /** Start (or create) one node; returns once it is started, not once it is healthy. */
  startNode(opts: { node: string; signal?: AbortSignal | undefined }): Promise<void>;
  /** Stop one node gracefully within graceMs (in-flight requests finish), then by force. */
  stopNode(opts: { node: string; graceMs: number }): Promise<void>;
  /**
   * SIGKILL the whole process group / container of one node, and return once it is gone. A
   * driver that had to kill another way says how (the caller reports it).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: the drivers that only SIGKILL return nothing
  killNode(opts: { node: string }): Promise<string | void>;
  /** Stop and remove every node and what `prepare` made (never images). Idempotent. */
  down(opts: { reporter: StepReporter }): Promise<void>;
  /**
   * After every node was stopped with stopNode (`phpcluster stop`): end what the runtime itself
   * runs for the cluster (native: the supervisor), keeping the state. `prepare` starts it again.
   */
  release?(): Promise<void>;
  /** The nodes asked for (default: every node), read now. */
  inspect(opts?: { nodes?: string[] | undefined }): Promise<Record<string, NodeReading>>;
  /** `nginx -t` on the rendered config: undefined when it passes, else what nginx said. */
  testBalancerConfig(): Promise<string | undefined>;
  /** The balancer's nginx (`nginx/1.22.1`, from `nginx -v` where it runs); undefined when it does not answer. */
  balancerVersion(): Promise<string | undefined>;
  /** The balancer's worker processes. */
  balancerWorkers(): Promise<NginxWorker[]>;
  /** Tell the running balancer to reload its config (SIGHUP); the kit waits for the new generation. */
  signalBalancerReload(): Promise<void>;
  /** swarm: the hosts, each with the nodes placed on it. */
  hosts?(): Promise<{ host: SwarmHost; ready: boolean; active: boolean; nodes: string[] }[]>;
  /** swarm: drain a host through the manager (its nodes stop) or make it active again. */
  setHostAvailability?(opts: { host: string; availability: "drain" | "active" }): Promise<void>;
  /** Where the balancer is reachable from this host, when the topology alone does not say (swarm). */
  balancerEndpoint?(): Promise<{ scheme: "http" | "https"; host: string; port: number }>;
  logs(opts: { node?: string | undefined; tail: number }): Promise<LogChunk[]>;
  /** compose, swarm: the images `create` built for this cluster, on every engine phpcluster can reach. */
  builtImages?(): Promise<BuiltImages>;
  /** compose, swarm: remove them (`destroy --images`), each on its own engine; throws when one refuses. */
  removeBuiltImages?(images: BuiltImage[]): Promise<void>;
  /** Where each node's log can be followed (`logs --follow`): files, or a command that streams them. */
  logSources(opts: { node?: string | undefined; tail: number }): Promise<LogSource[]>;
  /** One HTTP GET to one app node directly, bypassing the balancer. */
  httpGetNode(opts: { node: string; path: string; headers: Record<string, string> }): Promise<HttpReply>;
  /** Read keys from one Memcached node: the ones it holds, with their values. */
  readStoreKeys(opts: { node: string; keys: string[] }): Promise<Record<string, string>>;
}

export type DriverFactory = (runtime: RuntimeName, cluster: ClusterContext) => RuntimeDriver;
