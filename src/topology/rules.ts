import leven from "leven";
import { parseDuration } from "./duration.js";
import { EXTENSION_PACKAGES, isKnownExtension } from "./extensions.js";
import { PHP_DIRECTIVES } from "./php-directives.js";
import type { ParsedTopology } from "./schema.js";
import { appNodeNames } from "./types.js";

export type IssuePath = (string | number)[];
export type Severity = "error" | "warning";

export interface RuleContext {
  topology: ParsedTopology;
  /** Does a path relative to the topology file exist? (Only when a file is loaded; pure checks skip it.) */
  exists?: ((relative: string) => boolean) | undefined;
  /** The php.ini directives PHP knows (the installed PHP's and the shipped list); unset: the shipped list. */
  directives?: ReadonlySet<string> | undefined;
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
export function didYouMean(
  word: string,
  candidates: readonly string[],
  maxDistance = Math.max(2, Math.floor(word.length / 3)),
): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = leven(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= maxDistance ? best : undefined;
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

/**
 * What a topology's Memcached layout cannot promise (measured, see the README's Memcached section):
 * without replicas a crashed node's sessions are gone; with fewer replicas than nodes − 1,
 * php-memcached reads a dead node's sessions from the next server but writes them where its
 * rebuilt ring puts them, so they read empty or stale while the node is down.
 */
export const memcachedRedundancy: Rule = {
  name: "memcachedRedundancy",
  uses: ["sessions.replicas", "memcached.nodes"],
  check({ topology: t, warn }) {
    const { nodes } = t.memcached;
    const { replicas } = t.sessions;
    if (nodes < 2 || replicas >= nodes) return;
    if (replicas === 0) {
      warn(
        ["sessions", "replicas"],
        `sessions.replicas is 0 with ${nodes} Memcached nodes: a node that crashes loses the sessions it holds ` +
          "and even a graceful restart loses the sessions of users who come while it is away (PHP's strict mode gives them new ones); " +
          "set sessions.replicas: 1 or more",
      );
    } else if (replicas < nodes - 1) {
      warn(
        ["sessions", "replicas"],
        `sessions.replicas ${replicas} with ${nodes} Memcached nodes: while a node is down, php-memcached reads ` +
          "its sessions from the next server but writes them elsewhere, so some read empty or stale " +
          `(verify's memcached-node-loss shows it); set sessions.replicas: ${nodes - 1} for no loss`,
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
  uses: ["runtime", "balancer.port", "app.replicas", "memcached.nodes", "balancer.tls"],
  check({ topology: t, error }) {
    if (t.runtime !== "native") return;
    const tls = t.balancer.tls !== undefined && t.balancer.tls !== false;
    // with TLS, every app node has a second port for the requests that came in over HTTPS
    const last = t.balancer.port + t.app.replicas * (tls ? 2 : 1) + t.memcached.nodes;
    const tlsPort = typeof t.balancer.tls === "object" ? t.balancer.tls.port : tls ? 8443 : undefined;
    if (tlsPort !== undefined && tlsPort > t.balancer.port && tlsPort <= last) {
      error(
        typeof t.balancer.tls === "object" ? ["balancer", "tls", "port"] : ["balancer", "port"],
        `the native runtime serves app and Memcached nodes on ports ${t.balancer.port + 1}-${last}, which include tls.port ${tlsPort}: choose ports apart`,
      );
    }
    if (last > 65535) {
      error(
        ["balancer", "port"],
        `the native runtime serves app and Memcached nodes on the ports after balancer.port (up to ${last}), ` +
          "which passes 65535: choose a lower balancer.port",
      );
    }
  },
};

export const extensionsKnown: Rule = {
  name: "extensionsKnown",
  uses: ["app.extensions"],
  check({ topology: t, error }) {
    const known = Object.keys(EXTENSION_PACKAGES);
    t.app.extensions.forEach((name, i) => {
      if (isKnownExtension(name)) return;
      const hint = didYouMean(name, known);
      error(
        ["app", "extensions", i],
        `no Debian package provides a PHP extension "${name}"${hint ? `; did you mean "${hint}"?` : ""}`,
      );
    });
  },
};

export const tlsSettings: Rule = {
  name: "tlsSettings",
  uses: ["balancer.tls", "balancer.port", "sessions.cookie.secure"],
  check(ctx) {
    const { topology: t, error, warn } = ctx;
    const tls = t.balancer.tls;
    if (tls === undefined || tls === false) {
      if (t.sessions.cookie.secure) {
        warn(
          ["sessions", "cookie", "secure"],
          "secure cookies are only sent over HTTPS, and the balancer serves HTTP only: turn on balancer.tls",
        );
      }
      return;
    }
    if (tls === true) {
      if (t.balancer.port === 8443)
        error(["balancer", "port"], "balancer.port is the default tls.port (8443): choose another one");
      return;
    }
    if (tls.port === t.balancer.port) {
      error(
        ["balancer", "tls", "port"],
        `tls.port ${tls.port} is balancer.port too: HTTP and HTTPS need a port each`,
      );
    }
    for (const field of ["certificate", "key"] as const) {
      const file = tls[field];
      if (file !== undefined && ctx.exists && !ctx.exists(file)) {
        error(["balancer", "tls", field], `${file} does not exist (paths are relative to the topology file)`);
      }
    }
    if ((tls.certificate === undefined) !== (tls.key === undefined)) {
      error(
        ["balancer", "tls", tls.certificate === undefined ? "certificate" : "key"],
        "certificate and key come together (or leave both out for a development certificate)",
      );
    }
  },
};

/** Swarm's host-mode ports listen on every address of the host: that must be written explicitly. */
export const swarmPublishesOnEveryAddress: Rule = {
  name: "swarmPublishesOnEveryAddress",
  uses: ["runtime", "balancer.bind"],
  check({ topology: t, error }) {
    if (t.runtime !== "swarm") return;
    if (t.balancer.bind !== "0.0.0.0" && t.balancer.bind !== "::") {
      error(
        ["balancer", "bind"],
        `the swarm runtime publishes the balancer on every address of the host it runs on (a host-mode port cannot bind one address, and ${t.balancer.bind} of another host is of no use): write balancer.bind: 0.0.0.0, and firewall the port where it must not be reached`,
      );
    }
  },
};

export const SHIPPED_DIRECTIVES: ReadonlySet<string> = new Set(PHP_DIRECTIVES);

/**
 * An app.ini key PHP does not know is ignored by PHP without a word: a warning, with the closest
 * directive when it looks like a typo. Unknown keys of an extension the list does not cover are
 * said as possibly that extension's.
 */
export const iniDirectivesKnown: Rule = {
  name: "iniDirectivesKnown",
  uses: ["app.ini", "app.nodes"],
  check({ topology: t, directives = SHIPPED_DIRECTIVES, warn }) {
    const known = [...directives];
    const prefixes = new Set(known.filter((d) => d.includes(".")).map((d) => d.split(".")[0]));
    const check = (path: IssuePath, key: string) => {
      if (directives.has(key) || isManaged(key)) return;
      // hundreds of directives, many short: only a close one is a plausible typo
      const hint = didYouMean(key, known, Math.max(1, Math.floor(key.length / 4)));
      const prefix = key.includes(".") ? key.split(".")[0] : undefined;
      const why = hint
        ? `; did you mean "${hint}"?`
        : prefix && !prefixes.has(prefix)
          ? ` (if the ${prefix} extension defines it, it is not installed here: PHP ignores it unless app.extensions loads it)`
          : "";
      warn(path, `"${key}" is not a php.ini directive PHP knows, so PHP would ignore it${why}`);
    };
    for (const key of Object.keys(t.app.ini)) check(["app", "ini", key], key);
    for (const [node, override] of Object.entries(t.app.nodes)) {
      for (const key of Object.keys(override.ini)) check(["app", "nodes", node, "ini", key], key);
    }
  },
};

/** The document root must be there before anything serves it. */
export const appRootExists: Rule = {
  name: "appRootExists",
  uses: ["app.root"],
  check({ topology: t, exists, error }) {
    if (!exists || exists(t.app.root)) return;
    error(
      ["app", "root"],
      `app.root ${t.app.root} does not exist (it is relative to the topology file): create it, or point app.root at the application's document root`,
    );
  },
};

export const RULES: readonly Rule[] = [
  memcachedReplicasBelowNodes,
  memcachedRedundancy,
  lifetimeWithinThirtyDays,
  nodeOverridesNameExistingNodes,
  lockExpireInWholeSeconds,
  timeoutsInRange,
  sameSiteNoneNeedsSecure,
  managedDirectivesFlagged,
  nativePortsInRange,
  extensionsKnown,
  tlsSettings,
  swarmPublishesOnEveryAddress,
  iniDirectivesKnown,
  appRootExists,
];
