import type { Command } from "commander";
import type { App } from "../cli.js";

/** What a command's module exports: how to define its options, arguments and action. */
export interface CommandModule {
  configure(cmd: Command, app: App): void;
}

export interface CommandSpec {
  name: string;
  /** One line for `phpcluster --help` (the command's own help has more). */
  summary: string;
  /** A group of subcommands (config): it has no options of its own. */
  group?: boolean;
  /** Loaded only when this command runs, with what it imports. */
  load: () => Promise<CommandModule>;
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "init",
    summary: "write a commented phpcluster.yml and a sample public/index.php",
    load: () => import("./init.js"),
  },
  {
    name: "validate",
    summary: "load and check the topology; print every problem",
    load: () => import("./validate.js"),
  },
  {
    name: "render",
    summary: "write every rendered file; list created / changed / unchanged",
    load: () => import("./render.js"),
  },
  {
    name: "create",
    summary: "bring the cluster up and wait until every node is healthy",
    load: () => import("./create.js"),
  },
  {
    name: "up",
    summary: "converge: create what is missing, start what is stopped, heal what is down",
    load: () => import("./up.js"),
  },
  {
    name: "start",
    summary: "start a stopped cluster",
    load: () => import("./start.js"),
  },
  {
    name: "stop",
    summary: "stop every node and keep the state (phpcluster start brings it back)",
    load: () => import("./stop.js"),
  },
  {
    name: "status",
    summary: "every node: role, state, address; the balancer URL",
    load: () => import("./status.js"),
  },
  {
    name: "config",
    summary: "read and edit the topology (comments kept) and re-render",
    group: true,
    load: () => import("./config/index.js"),
  },
  {
    name: "restart",
    summary: "apply the rendered config: app nodes one at a time, drained first",
    load: () => import("./restart.js"),
  },
  {
    name: "failover",
    summary: "kill the node serving a session and show the session survives",
    load: () => import("./failover.js"),
  },
  {
    name: "verify",
    summary: "the full proof that sessions survive, as a report",
    load: () => import("./verify.js"),
  },
  { name: "logs", summary: "node logs", load: () => import("./logs.js") },
  {
    name: "destroy",
    summary: "stop everything and remove what create made",
    load: () => import("./destroy.js"),
  },
  {
    name: "doctor",
    summary: "which runtimes are usable here, and what to install",
    load: () => import("./doctor.js"),
  },
];
