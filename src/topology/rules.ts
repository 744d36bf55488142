import leven from "leven";
import { parseDuration } from "./duration.js";
import type { ParsedTopology } from "./schema.js";
import { appNodeNames } from "./types.js";

export type IssuePath = (string | number)[];
export type Severity = "error" | "warning";

export interface RuleContext {
  topology: ParsedTopology;
  error(path: IssuePath, message: string): void;
  warn(path: IssuePath, message: string): void;
}

/** A cross-field rule: a small named check over the parsed topology, and the fields it reads. */
export interface Rule {
  name: string;
  /** Dot paths the rule reads; it is skipped when one of them was itself invalid. */
  uses: string[];
  check(ctx: RuleContext): void;
}

/** The closest candidate, if it is close enough to be a plausible typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = leven(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const THIRTY_DAYS = 2_592_000;
/** nginx documents that proxy_connect_timeout "cannot usually exceed 75 seconds". */
const MAX_CONNECT_TIMEOUT_MS = 75_000;

/** Directives phpcluster renders itself; overriding them is allowed (verify detects the effect) but flagged. */
export const MANAGED_DIRECTIVES = [
  "session.save_handler",
  "session.save_path",
  "session.name",
  "session.gc_maxlifetime",
  "session.use_strict_mode",
  "session.cookie_secure",
  "session.cookie_httponly",
  "session.cookie_samesite",
  "extension",
  "zend_extension",
];

function isManaged(key: string): boolean {
  return MANAGED_DIRECTIVES.includes(key) || key.startsWith("memcached.sess_");
}

export const memcachedReplicasBelowNodes: Rule = {
  name: "memcachedReplicasBelowNodes",
  uses: ["sessions.replicas", "memcached.nodes"],
  check({ topology: t, error }) {
    if (t.sessions.replicas > 0 && t.sessions.replicas >= t.memcached.nodes) {
      error(
        ["sessions", "replicas"],
        `sessions.replicas (${t.sessions.replicas}) must be lower than memcached.nodes (${t.memcached.nodes}): ` +
          "each replica lives on another Memcached node",
      );
    }
  },
};

export const lifetimeWithinThirtyDays: Rule = {
  name: "lifetimeWithinThirtyDays",
  uses: ["sessions.lifetime"],
  check({ topology: t, error }) {
    if (t.sessions.lifetime > THIRTY_DAYS) {
      error(
        ["sessions", "lifetime"],
        `sessions.lifetime ${t.sessions.lifetime} is over 30 days (${THIRTY_DAYS} s): Memcached would read the TTL ` +
          "as an absolute Unix time",
      );
    }
  },
};

export const nodeOverridesNameExistingNodes: Rule = {
  name: "nodeOverridesNameExistingNodes",
  uses: ["app.replicas", "app.nodes"],
  check({ topology: t, error }) {
    const names = appNodeNames(t);
    for (const node of Object.keys(t.app.nodes)) {
      if (names.includes(node)) continue;
      const hint = didYouMean(node, names);
      error(
        ["app", "nodes", node],
        `there is no app node "${node}" (app.replicas is ${t.app.replicas}: ${names.join(", ")})` +
          (hint ? `; did you mean "${hint}"?` : ""),
      );
    }
  },
};

export const lockExpireInWholeSeconds: Rule = {
  name: "lockExpireInWholeSeconds",
  uses: ["sessions.lockExpire"],
  check({ topology: t, error }) {
    const value = parseDuration(t.sessions.lockExpire);
    if (value === undefined) return;
    if (value < 1000 || value % 1000 !== 0) {
      error(
        ["sessions", "lockExpire"],
        `sessions.lockExpire ${t.sessions.lockExpire} must be a whole number of seconds, at least 1s ` +
          "(0 would let a lock orphaned by a killed node live for ever)",
      );
    }
  },
};

export const timeoutsInRange: Rule = {
  name: "timeoutsInRange",
  uses: ["balancer.connectTimeout", "balancer.readTimeout", "balancer.failTimeout"],
  check({ topology: t, error }) {
    const check = (key: "connectTimeout" | "readTimeout" | "failTimeout", max?: number) => {
      const value = parseDuration(t.balancer[key]);
      if (value === undefined) return;
      if (value === 0) error(["balancer", key], `balancer.${key} must be longer than 0`);
      else if (max !== undefined && value > max)
        error(["balancer", key], `balancer.${key} ${t.balancer[key]} is over nginx's limit of 75s`);
    };
    check("connectTimeout", MAX_CONNECT_TIMEOUT_MS);
    check("readTimeout");
    check("failTimeout");
  },
};

export const sameSiteNoneNeedsSecure: Rule = {
  name: "sameSiteNoneNeedsSecure",
  uses: ["sessions.cookie.sameSite", "sessions.cookie.secure"],
  check({ topology: t, error }) {
    if (t.sessions.cookie.sameSite === "None" && !t.sessions.cookie.secure) {
      error(
        ["sessions", "cookie", "sameSite"],
        "sessions.cookie.sameSite None needs sessions.cookie.secure: true (browsers reject it otherwise)",
      );
    }
  },
};

export const managedDirectivesFlagged: Rule = {
  name: "managedDirectivesFlagged",
  uses: ["app.ini", "app.nodes"],
  check({ topology: t, warn }) {
    const flag = (path: IssuePath, key: string) =>
      warn(path, `${key} is a directive phpcluster renders itself; this override replaces it`);
    for (const key of Object.keys(t.app.ini)) if (isManaged(key)) flag(["app", "ini", key], key);
    for (const [node, override] of Object.entries(t.app.nodes)) {
      for (const key of Object.keys(override.ini))
        if (isManaged(key)) flag(["app", "nodes", node, "ini", key], key);
    }
  },
};

export const nativePortsInRange: Rule = {
  name: "nativePortsInRange",
  uses: ["runtime", "balancer.port", "app.replicas", "memcached.nodes"],
  check({ topology: t, error }) {
    if (t.runtime !== "native") return;
    const last = t.balancer.port + t.app.replicas + t.memcached.nodes;
    if (last > 65535) {
      error(
        ["balancer", "port"],
        `the native runtime serves app and Memcached nodes on the ports after balancer.port (up to ${last}), ` +
          "which passes 65535: choose a lower balancer.port",
      );
    }
  },
};

export const RULES: readonly Rule[] = [
  memcachedReplicasBelowNodes,
  lifetimeWithinThirtyDays,
  nodeOverridesNameExistingNodes,
  lockExpireInWholeSeconds,
  timeoutsInRange,
  sameSiteNoneNeedsSecure,
  managedDirectivesFlagged,
  nativePortsInRange,
];
