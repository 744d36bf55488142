import { PassThrough } from "node:stream";
import { runCli } from "../../src/cli.js";
import { fail } from "../../src/errors.js";
import type {
  ClusterContext,
  DriverFactory,
  HttpReply,
  LogChunk,
  NginxWorker,
  NodeReading,
  Prerequisite,
  RuntimeDriver,
  StepReporter,
} from "../../src/runtime/driver.js";
import type { LogSource } from "../../src/runtime/kit/index.js";
import { clusterNodes } from "../../src/topology/index.js";

/**
 * A small in-memory driver for command-level tests: nodes are records, not processes. It does
 * what a real driver's transport does to its own state (start, stop, kill, reload) and records
 * every call, so a test can check the order the lifecycle drives it in. It proves nothing about a
 * runtime (the contract suite does that against the real drivers).
 */
export interface FakeNode {
  state: "running" | "stopped" | "starting";
  /** Bumped on every start: a restart is visible. */
  starts: number;
  /** The balancer's worker generation. */
  generation: number;
}

export interface FakeWorld {
  nodes: Map<string, FakeNode>;
  calls: string[];
  /** Nodes that exit at once when started. */
  failOnStart: Set<string>;
  /** Nodes that stay "starting" (never healthy) when started. */
  hangOnStart: Set<string>;
  /** Called on every start, before the node changes state. */
  onStart?: (node: string) => void;
  balancerConfigError?: string;
}

export function newWorld(): FakeWorld {
  return { nodes: new Map(), calls: [], failOnStart: new Set(), hangOnStart: new Set() };
}

export class FakeDriver implements RuntimeDriver {
  readonly pollMs = 5;
  constructor(
    readonly name: "native" | "compose",
    readonly cluster: ClusterContext,
    private readonly world: FakeWorld,
  ) {}

  private node(name: string): FakeNode {
    if (!clusterNodes(this.cluster.topology).some((n) => n.name === name)) {
      throw fail.unknownNode(
        name,
        clusterNodes(this.cluster.topology).map((n) => n.name),
      );
    }
    let n = this.world.nodes.get(name);
    if (!n) {
      n = { state: "stopped", starts: 0, generation: 0 };
      this.world.nodes.set(name, n);
    }
    return n;
  }

  async prerequisites(): Promise<Prerequisite[]> {
    return [{ name: "fake", ok: true, detail: "always there" }];
  }
  async exists(): Promise<boolean> {
    return [...this.world.nodes.values()].some((n) => n.state !== "stopped");
  }
  async preflight(): Promise<void> {
    this.world.calls.push("preflight");
  }
  async prepare(_opts: { reporter: StepReporter }): Promise<void> {
    this.world.calls.push("prepare");
  }
  async startNode(opts: { node: string }): Promise<void> {
    const n = this.node(opts.node);
    this.world.calls.push(`start ${opts.node}`);
    this.world.onStart?.(opts.node);
    if (n.state === "running") return;
    n.starts++;
    n.state = this.world.hangOnStart.has(opts.node) ? "starting" : "running";
    if (this.world.failOnStart.has(opts.node)) n.state = "stopped";
  }
  async stopNode(opts: { node: string; graceMs: number }): Promise<void> {
    this.world.calls.push(`stop ${opts.node}`);
    this.node(opts.node).state = "stopped";
  }
  async killNode(opts: { node: string }): Promise<void> {
    this.world.calls.push(`kill ${opts.node}`);
    this.node(opts.node).state = "stopped";
  }
  async down(): Promise<void> {
    this.world.calls.push("down");
    for (const n of this.world.nodes.values()) n.state = "stopped";
  }
  async inspect(opts: { nodes?: string[] | undefined } = {}): Promise<Record<string, NodeReading>> {
    const out: Record<string, NodeReading> = {};
    for (const { name } of clusterNodes(this.cluster.topology)) {
      if (opts.nodes && !opts.nodes.includes(name)) continue;
      const n = this.node(name);
      if (n.state === "starting" && !this.world.hangOnStart.has(name)) n.state = "running";
      out[name] =
        n.state === "running"
          ? { state: "running", address: `fake:${name}` }
          : n.state === "starting"
            ? { state: "unhealthy", address: `fake:${name}`, detail: "starting" }
            : {
                state: "stopped",
                address: `fake:${name}`,
                failed: n.starts > 0,
                detail: "exited with code 1",
              };
    }
    return out;
  }
  async balancerVersion(): Promise<string | undefined> {
    return "nginx/0.0.0-fake";
  }

  async testBalancerConfig(): Promise<string | undefined> {
    return this.world.balancerConfigError;
  }
  async balancerWorkers(): Promise<NginxWorker[]> {
    const lb = this.node("lb");
    return lb.state === "running" ? [{ pid: 1000 + lb.generation, accepting: true }] : [];
  }
  async signalBalancerReload(): Promise<void> {
    this.world.calls.push("reload lb");
    this.node("lb").generation++;
  }
  async logs(opts: { node?: string | undefined; tail: number }): Promise<LogChunk[]> {
    return [{ node: opts.node ?? "lb", file: "fake.log", lines: [`${opts.node} fake log line`] }];
  }
  async logSources(): Promise<LogSource[]> {
    return [];
  }
  async httpGetNode(): Promise<HttpReply> {
    throw fail.notSupported("fake", "HTTP");
  }
  async readStoreKeys(): Promise<Record<string, string>> {
    return {};
  }
}

export function fakeFactory(world: FakeWorld): DriverFactory {
  return (runtime, cluster) => new FakeDriver(runtime === "compose" ? "compose" : "native", cluster, world);
}

/** Run the CLI in-process in `cwd`, with the fake driver. */
export async function runWithFake(
  world: FakeWorld,
  args: string[],
  opts: { cwd: string; signal?: AbortSignal } = { cwd: process.cwd() },
) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d) => {
    stdout += d;
  });
  err.on("data", (d) => {
    stderr += d;
  });
  const exitCode = await runCli({
    argv: ["node", "phpcluster", ...args],
    env: { PATH: process.env.PATH, CI: "true", NO_COLOR: "1" },
    cwd: opts.cwd,
    stdout: out,
    stderr: err,
    isTTY: false,
    driverFor: fakeFactory(world),
    signal: opts.signal ?? new AbortController().signal,
  });
  return { exitCode, stdout, stderr };
}
