/**
 * Every error phpcluster reports, as one union of codes. Each code has one exit code (the table
 * below, documented in the README); core code throws through the small factories at the end, and
 * only `src/cli.ts` turns an error into an exit code. A plain `Error` reaching the user is a bug.
 */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  TOPOLOGY: 3,
  RUNTIME_UNAVAILABLE: 4,
  RUNTIME_FAILED: 5,
  VERIFY_FAILED: 6,
  NOT_SUPPORTED: 7,
  CONFLICT: 8,
  DEGRADED: 9,
  NOT_CREATED: 10,
  CANCELLED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Each error code and its exit code. The same condition gives the same code from every path. */
export const ERROR_EXIT = {
  // 2: the command line is wrong (unknown command, option, node, bad option value)
  USAGE: EXIT.USAGE,
  UNKNOWN_NODE: EXIT.USAGE,
  NO_OTHER_NODE: EXIT.USAGE,
  // 3: the topology is missing or invalid
  TOPOLOGY_NOT_FOUND: EXIT.TOPOLOGY,
  TOPOLOGY_INVALID: EXIT.TOPOLOGY,
  DOCROOT_MISSING: EXIT.TOPOLOGY,
  // 4: a runtime or a program it needs is not here
  RUNTIME_UNAVAILABLE: EXIT.RUNTIME_UNAVAILABLE,
  // 5: a runtime operation failed
  FILE_ERROR: EXIT.RUNTIME_FAILED,
  NOT_RUNNING: EXIT.RUNTIME_FAILED,
  NODE_START_FAILED: EXIT.RUNTIME_FAILED,
  NODE_EXITED: EXIT.RUNTIME_FAILED,
  STOP_FAILED: EXIT.RUNTIME_FAILED,
  IMAGE_REMOVE_FAILED: EXIT.RUNTIME_FAILED,
  KILL_FAILED: EXIT.RUNTIME_FAILED,
  BALANCER_CONFIG_INVALID: EXIT.RUNTIME_FAILED,
  BALANCER_RELOAD_FAILED: EXIT.RUNTIME_FAILED,
  COMPOSE_FAILED: EXIT.RUNTIME_FAILED,
  IMAGE_BUILD_FAILED: EXIT.RUNTIME_FAILED,
  SUPERVISOR: EXIT.RUNTIME_FAILED,
  NODE_REQUEST_FAILED: EXIT.RUNTIME_FAILED,
  STORE_READ_FAILED: EXIT.RUNTIME_FAILED,
  SESSION_FAILED: EXIT.RUNTIME_FAILED,
  SECRET_MISSING: EXIT.RUNTIME_FAILED,
  DOCROOT_UNREADABLE: EXIT.RUNTIME_FAILED,
  INSTALL_FAILED: EXIT.RUNTIME_FAILED,
  TIMEOUT: EXIT.RUNTIME_FAILED,
  // 6: a proof did not hold
  VERIFY_FAILED: EXIT.VERIFY_FAILED,
  // 7: the runtime cannot do this
  NOT_SUPPORTED: EXIT.NOT_SUPPORTED,
  // 8: the request conflicts with the current state
  CONFLICT: EXIT.CONFLICT,
  INIT_EXISTS: EXIT.CONFLICT,
  CLUSTER_RUNNING: EXIT.CONFLICT,
  CLUSTER_LOCKED: EXIT.CONFLICT,
  PORT_IN_USE: EXIT.CONFLICT,
  // 9: `status`: the cluster exists but not every node is running and healthy
  CLUSTER_DEGRADED: EXIT.DEGRADED,
  // 10: the cluster was never created here (or was destroyed)
  NOT_CREATED: EXIT.NOT_CREATED,
  // 130: Ctrl-C
  CANCELLED: EXIT.CANCELLED,
} as const satisfies Record<string, ExitCode>;

export type ErrorCode = keyof typeof ERROR_EXIT;

export interface ErrorOptions {
  hint?: string | undefined;
  details?: unknown;
  cause?: unknown;
  /** The command's result all the same (`status` of a degraded cluster): `--json` carries it as `data`. */
  data?: unknown;
}

export class PhpclusterError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly details: unknown;
  readonly data: unknown;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PhpclusterError";
    this.code = code;
    this.exitCode = ERROR_EXIT[code];
    this.hint = options.hint;
    this.details = options.details;
    this.data = options.data;
  }
}

export function isPhpclusterError(err: unknown, code?: ErrorCode): err is PhpclusterError {
  return err instanceof PhpclusterError && (code === undefined || err.code === code);
}

const DOCTOR_HINT = "run `phpcluster doctor` to see what is missing and how to install it";
const START_HINT = "start it with `phpcluster create`";

/** hostPort without importing render/: `[::1]:80` for IPv6. */
const at = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

export interface PortTaken {
  node: string;
  host: string;
  port: number;
  /** The process that holds it, where the system tells (`nginx (pid 123)`). */
  holder?: string | undefined;
}

/** The factories: one per condition, so every path words it (and exits) the same way. */
export const fail = {
  usage: (message: string, hint?: string) => new PhpclusterError("USAGE", message, { hint }),

  unknownNode: (name: string, known: string[], role?: "app" | "memcached") =>
    new PhpclusterError(
      "UNKNOWN_NODE",
      role ? `${name} is not ${role === "app" ? "an app" : "a memcached"} node` : `there is no node ${name}`,
      { hint: `the ${role ? `${role} ` : ""}nodes are ${known.join(", ")}` },
    ),

  docrootMissing: (file: string, root: string, absolute: string) =>
    new PhpclusterError("DOCROOT_MISSING", `${file}: app.root "${root}" is not a directory (${absolute})`, {
      hint: "create it (phpcluster init writes public/index.php), or point app.root at your document root",
    }),

  docrootUnreadable: (target: string, dir: string, mode: number) =>
    new PhpclusterError(
      "DOCROOT_UNREADABLE",
      `Apache's workers (www-data) cannot read ${target}: ${dir} has mode ${(mode & 0o777).toString(8)}`,
      {
        hint: `allow others to enter it (chmod o+x ${dir}) or keep the project in a directory others can read`,
      },
    ),

  runtimeUnavailable: (message: string, hint: string = DOCTOR_HINT, details?: unknown) =>
    new PhpclusterError("RUNTIME_UNAVAILABLE", message, { hint, details }),

  notSupported: (runtime: string, operation: string, hint?: string) =>
    new PhpclusterError("NOT_SUPPORTED", `the ${runtime} runtime does not support ${operation}`, { hint }),

  notRunning: (what: string, hint = START_HINT) =>
    new PhpclusterError("NOT_RUNNING", `${what} is not running`, { hint }),

  clusterRunning: (name: string) =>
    new PhpclusterError("CLUSTER_RUNNING", `cluster ${name} is already running`, {
      hint: "nothing was changed: `phpcluster up` heals a node that is down, `phpcluster restart` applies changed config, `phpcluster destroy` removes it",
    }),

  notCreated: (name: string, hint = "create it with `phpcluster up` (or `phpcluster create`)") =>
    new PhpclusterError("NOT_CREATED", `cluster ${name} is not created`, { hint }),

  degraded: (message: string, data: unknown, hint: string) =>
    new PhpclusterError("CLUSTER_DEGRADED", message, { hint, data }),

  locked: (owner: { pid?: number | undefined; command?: string | undefined }) =>
    new PhpclusterError(
      "CLUSTER_LOCKED",
      `another phpcluster command (${owner.command ?? "?"}, pid ${owner.pid ?? "?"}) is working on this cluster`,
      { hint: "wait for it to finish; nothing was changed" },
    ),

  portInUse: (taken: PortTaken[], hint: string) =>
    new PhpclusterError(
      "PORT_IN_USE",
      `port${taken.length > 1 ? "s" : ""} already in use: ${taken
        .map((t) => `${at(t.host, t.port)} (for ${t.node}${t.holder ? `; held by ${t.holder}` : ""})`)
        .join(", ")}`,
      { hint, details: { taken } },
    ),

  /** A node did not become healthy in time, or exited while starting: with its last log lines. */
  nodeNotHealthy: (node: string, message: string, tail: string[], where: string) =>
    new PhpclusterError("NODE_START_FAILED", message, {
      hint: tail.length > 0 ? `last log lines of ${node}:\n${tail.join("\n")}` : `see ${where}`,
      details: { node, log: tail },
    }),

  /** Read while waiting for a node: it will not become healthy (it exited, its healthcheck gave up). */
  nodeExited: (node: string, how: string) => new PhpclusterError("NODE_EXITED", how, { details: { node } }),

  balancerConfigRejected: (output: string) =>
    new PhpclusterError(
      "BALANCER_CONFIG_INVALID",
      "nginx -t rejected the rendered nginx.conf; the running balancer was not touched",
      { hint: output.trim() || undefined },
    ),

  balancerReloadFailed: (why: string, tail: string[] = []) =>
    new PhpclusterError("BALANCER_RELOAD_FAILED", `the balancer did not reload: ${why}`, {
      hint: tail.length > 0 ? tail.join("\n") : undefined,
    }),

  timeout: (what: string, ms: number, last?: string) =>
    new PhpclusterError(
      "TIMEOUT",
      `${what} did not happen within ${formatMs(ms)}${last ? ` (last error: ${last})` : ""}`,
    ),

  file: (message: string, cause?: unknown) => new PhpclusterError("FILE_ERROR", message, { cause }),

  cancelled: (message = "interrupted; stopped what had been started") =>
    new PhpclusterError("CANCELLED", message),

  verifyFailed: (message: string, details?: unknown) =>
    new PhpclusterError("VERIFY_FAILED", message, { details }),

  runtime: (code: ErrorCode, message: string, options: ErrorOptions = {}) =>
    new PhpclusterError(code, message, options),
};

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
