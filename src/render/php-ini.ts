import type { Topology } from "../topology/index.js";
import { SESSION_KEY_PREFIX } from "./constants.js";
import { renderTemplate } from "./templates.js";

export interface IniDirective {
  key: string;
  /** The value as written in php.ini: bare or double-quoted. */
  value: string;
  /** Where the value came from: `default` (rendered by phpcluster), `app.ini` or `app.nodes.<node>.ini`. */
  source: string;
}

interface Managed {
  key: string;
  value: string;
  section: string;
  note?: string;
}

const BARE_WORDS = new Set(["on", "off", "true", "false", "yes", "no", "none"]);
const NUMBER_RE = /^-?\d+(?:\.\d+)?$/;
const SIZE_RE = /^\d+[KMG]$/i;
const CONSTANT = String.raw`~?\s*(?:[A-Z][A-Z0-9_]*|\d+)`;
/** `E_ALL`, `E_ALL & ~E_DEPRECATED`, `E_ALL | E_STRICT`: a PHP constant expression. */
const CONSTANT_EXPR_RE = new RegExp(`^(?:~?\\s*E_[A-Z_]+|${CONSTANT}(?:\\s*[&|^]\\s*${CONSTANT})+)$`);
/** Directives whose value is always quoted: bare `None` would be read as an empty string. */
const ALWAYS_QUOTED = new Set(["session.cookie_samesite"]);
/** What a double-quoted php.ini value may not contain (validated topologies never do). */
function unquotable(value: string): boolean {
  for (const ch of value) {
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code === 0x7f || ch === '"' || ch === "\\" || ch === "$") return true;
  }
  return false;
}

/**
 * A php.ini value as written in the file: bare for numbers, sizes (256M), On/Off/true/false/
 * yes/no/none and constant expressions (E_ALL & ~E_DEPRECATED), double-quoted otherwise.
 */
export function iniValue(value: string, key = ""): string {
  if (
    !ALWAYS_QUOTED.has(key) &&
    (NUMBER_RE.test(value) ||
      SIZE_RE.test(value) ||
      BARE_WORDS.has(value.toLowerCase()) ||
      CONSTANT_EXPR_RE.test(value))
  ) {
    return value;
  }
  if (unquotable(value)) {
    throw new Error(`php.ini value ${JSON.stringify(value)} cannot be quoted safely`);
  }
  return `"${value}"`;
}

const onOff = (flag: boolean) => (flag ? "On" : "Off");

/** host:port of every Memcached node, in node order: the same string on every app node. */
function savePath(memcached: string[]): string {
  return memcached.join(",");
}

function managedDirectives(t: Topology, memcached: string[]): Managed[] {
  const s = t.sessions;
  const replicated = s.replicas > 0;
  const lockExpire = Math.max(1, Math.ceil(s.lockExpireMs / 1000));
  const php = "PHP";
  const sessions = "Sessions, stored in Memcached";
  const handler = "php-memcached session handler";
  const list: Managed[] = [
    { section: php, key: "expose_php", value: "Off" },
    { section: php, key: "display_errors", value: "Off" },
    { section: php, key: "log_errors", value: "On" },
    { section: php, key: "max_execution_time", value: "30" },
    { section: sessions, key: "session.save_handler", value: "memcached" },
    {
      section: sessions,
      key: "session.save_path",
      value: iniValue(savePath(memcached)),
      note: "Every Memcached node, in the same order on every app node (ketama hashes on this list).",
    },
    { section: sessions, key: "session.name", value: iniValue(s.name) },
    {
      section: sessions,
      key: "session.gc_maxlifetime",
      value: String(s.lifetime),
      note: "The Memcached TTL of a session.",
    },
    {
      section: sessions,
      key: "session.gc_probability",
      value: "0",
      note: "Garbage collection is a no-op for Memcached: items expire by TTL.",
    },
    s.replicas > 0
      ? {
          section: sessions,
          key: "session.use_strict_mode",
          value: "0",
          note:
            "Off with replicas: strict mode checks the id on the primary Memcached node only (an ADD, not " +
            "replicated), so with that node dead PHP silently issues a new, empty session (measured). " +
            "Set session.use_strict_mode in app.ini to prefer strict mode over surviving a Memcached node loss.",
        }
      : { section: sessions, key: "session.use_strict_mode", value: "1" },
    { section: sessions, key: "session.use_cookies", value: "1" },
    { section: sessions, key: "session.use_only_cookies", value: "1" },
    { section: sessions, key: "session.cookie_secure", value: onOff(s.cookie.secure) },
    { section: sessions, key: "session.cookie_httponly", value: onOff(s.cookie.httpOnly) },
    {
      section: sessions,
      key: "session.cookie_samesite",
      value: iniValue(s.cookie.sameSite, "session.cookie_samesite"),
    },
    {
      section: sessions,
      key: "session.lazy_write",
      value: onOff(!replicated),
      note: replicated
        ? "Off: an unchanged session is refreshed with TOUCH, which is not replicated; write it instead."
        : undefined,
    },
    { section: handler, key: "memcached.sess_prefix", value: iniValue(SESSION_KEY_PREFIX) },
    { section: handler, key: "memcached.sess_locking", value: onOff(s.locking) },
    {
      section: handler,
      key: "memcached.sess_lock_expire",
      value: String(lockExpire),
      note: "Bounds a lock orphaned by a killed app node (0 would mean max_execution_time).",
    },
    { section: handler, key: "memcached.sess_lock_wait_min", value: "100" },
    { section: handler, key: "memcached.sess_lock_wait_max", value: "500" },
    {
      section: handler,
      key: "memcached.sess_lock_retries",
      value: String(Math.ceil(s.lockExpireMs / 500) + 4),
      note: "Enough retries to wait out an orphaned lock instead of failing the request.",
    },
    { section: handler, key: "memcached.sess_consistent_hash", value: "On" },
    {
      section: handler,
      key: "memcached.sess_connect_timeout",
      value: String(MEMCACHED_CONNECT_TIMEOUT_MS),
      note:
        "Milliseconds. A Memcached node whose host is cut off black-holes connects, and each request " +
        "pays this once per such node (the failure is forgotten with the request's handle); 0 would " +
        "be libmemcached's 4000.",
    },
  ];
  if (replicated) {
    list.push(
      {
        section: handler,
        key: "memcached.sess_binary_protocol",
        value: "On",
        note: "Replicas are silently ignored with the ASCII protocol.",
      },
      { section: handler, key: "memcached.sess_number_of_replicas", value: String(s.replicas) },
      {
        section: handler,
        key: "memcached.sess_remove_failed_servers",
        value: "On",
        note: "With a failure limit of 1, a dead Memcached node is ejected within the same request.",
      },
      { section: handler, key: "memcached.sess_server_failure_limit", value: "1" },
    );
  } else {
    list.push(
      { section: handler, key: "memcached.sess_binary_protocol", value: "Off" },
      { section: handler, key: "memcached.sess_number_of_replicas", value: "0" },
      { section: handler, key: "memcached.sess_remove_failed_servers", value: "Off" },
    );
  }
  return list;
}

/** memcached.sess_connect_timeout: a connect inside one network takes well under a millisecond. */
export const MEMCACHED_CONNECT_TIMEOUT_MS = 250;

interface RenderedDirective {
  key: string;
  value: string;
  heading: string;
  notes: string[];
}

/**
 * One merged map per node: phpcluster's defaults, overridden by app.ini, overridden by
 * app.nodes.<node>.ini. Every directive appears once; overrides keep the default's position.
 */
export function mergedDirectives(t: Topology, node: string, memcached: string[]): RenderedDirective[] {
  const merged = new Map<string, { value: string; section: string; note?: string; source: string }>();
  for (const d of managedDirectives(t, memcached)) {
    merged.set(d.key, { value: d.value, section: d.section, note: d.note, source: "default" });
  }
  const extra = "Extra directives from the topology";
  const layers: [string, Record<string, string>][] = [
    ["app.ini", t.app.ini],
    [`app.nodes.${node}.ini`, t.app.nodes[node]?.ini ?? {}],
  ];
  for (const [source, map] of layers) {
    for (const [key, raw] of Object.entries(map)) {
      const existing = merged.get(key);
      merged.set(key, { value: iniValue(raw, key), section: existing?.section ?? extra, source });
    }
  }
  const out: RenderedDirective[] = [];
  let section = "";
  for (const [key, d] of merged) {
    const notes: string[] = [];
    if (d.note) notes.push(d.note);
    if (d.source !== "default") notes.push(`from ${d.source}`);
    out.push({ key, value: d.value, heading: d.section === section ? "" : d.section, notes });
    section = d.section;
  }
  return out;
}

export function renderPhpIni(t: Topology, node: string, target: string, memcached: string[]): string {
  return renderTemplate("php/php.ini.liquid", {
    cluster: t.name,
    node,
    target,
    directives: mergedDirectives(t, node, memcached),
  });
}
