import type { NodeRole, RuntimeName, Topology } from "../topology/index.js";

/** Everything a driver needs to know about one cluster. */
export interface ClusterContext {
  topology: Topology;
  /** Absolute path of the topology file and its directory. */
  topologyFile: string;
  topologyDir: string;
  /** `.phpcluster/<name>/` beside the topology file: rendered files, pids, logs, the probe secret. */
  stateDir: string;
  /** Where the rendered files of this runtime live (`<stateDir>/<runtime>`). */
  renderDir: string;
  /** Absolute document root of the app nodes. */
  docroot: string;
}

export type NodeState = "running" | "stopped" | "unhealthy";

export interface NodeStatus {
  name: string;
  role: NodeRole;
  state: NodeState;
  /** Where the node listens, as seen from this host (native) or inside the cluster network (compose). */
  address: string;
  pid?: number | undefined;
  detail?: string | undefined;
}

export interface StepReporter {
  step<T>(title: string, work: () => Promise<T>): Promise<T>;
  warn(message: string): void;
  info(message: string): void;
}

export interface UpOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  reporter: StepReporter;
}

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

/**
 * One interface for every runtime. Commands call these and never branch on the runtime; a driver
 * that cannot do something throws NotSupportedError.
 */
export interface RuntimeDriver {
  readonly name: RuntimeName;
  /** What this runtime needs on this machine, and whether it is there. */
  prerequisites(): Promise<Prerequisite[]>;
  /** Is any process or container of this cluster present (running or not)? */
  exists(cluster: ClusterContext): Promise<boolean>;
  /** Start every node in order and wait until each is healthy. Stops what it started on failure. */
  up(cluster: ClusterContext, opts: UpOptions): Promise<void>;
  /** Stop and remove everything `up` made. Idempotent. */
  down(cluster: ClusterContext, opts: { reporter: StepReporter }): Promise<void>;
  status(cluster: ClusterContext): Promise<NodeStatus[]>;
  /** Start one stopped node and wait until it is healthy. */
  startNode(cluster: ClusterContext, node: string, opts: { timeoutMs: number }): Promise<void>;
  /** Stop one node gracefully (in-flight requests finish). */
  stopNode(cluster: ClusterContext, node: string): Promise<void>;
  /** SIGKILL the whole process group / container of one node. */
  killNode(cluster: ClusterContext, node: string): Promise<void>;
  /** Check the balancer's rendered config, then reload it gracefully; a bad config never stops it. */
  reloadBalancer(cluster: ClusterContext): Promise<void>;
  logs(cluster: ClusterContext, node: string | undefined, tail: number): Promise<LogChunk[]>;
  /** Where the balancer is reachable from this host. */
  balancerEndpoint(cluster: ClusterContext): { host: string; port: number };
  /** One HTTP GET to one app node directly, bypassing the balancer (native: its address; compose: inside its container). */
  httpGetNode(
    cluster: ClusterContext,
    node: string,
    path: string,
    headers: Record<string, string>,
  ): Promise<HttpReply>;
  /** Read one key from one Memcached node: its value, or undefined when the node does not hold it. */
  readStoreKey(cluster: ClusterContext, node: string, key: string): Promise<string | undefined>;
}
