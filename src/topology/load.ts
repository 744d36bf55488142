import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { z } from "zod";
import { PhpclusterError } from "../errors.js";
import { didYouMean, type IssuePath, RULES, type Severity } from "./rules.js";
import { topologySchema } from "./schema.js";
import { normalizeTopology, type Topology } from "./types.js";

export interface TopologyIssue {
  file: string;
  line: number;
  col: number;
  /** Dot path of the field, e.g. `balancer.port` or `app.ini.memory_limit`. */
  path: string;
  message: string;
  severity: Severity;
}

export interface TopologyCheck {
  file: string;
  topology: Topology | undefined;
  errors: TopologyIssue[];
  warnings: TopologyIssue[];
}

export interface LoadedTopology {
  /** The topology file as given (relative paths stay relative, for messages). */
  file: string;
  /** Absolute directory of the topology file: relative paths in it are resolved from here. */
  dir: string;
  topology: Topology;
  warnings: TopologyIssue[];
  /** The file's text as read (config edits start from it). */
  text: string;
}

export class TopologyError extends PhpclusterError {
  readonly issues: TopologyIssue[];
  constructor(file: string, issues: TopologyIssue[]) {
    const n = issues.length;
    super("TOPOLOGY_INVALID", `${file}: ${n} problem${n === 1 ? "" : "s"} in the topology`, {
      hint: "fix every problem listed, then run `phpcluster validate` again",
      details: { issues },
    });
    this.issues = issues;
  }
}

export function formatIssue(issue: TopologyIssue): string {
  return `${issue.file}:${issue.line}:${issue.col} ${issue.path || "(document)"}: ${issue.message}`;
}

export function formatPath(p: IssuePath): string {
  let out = "";
  for (const segment of p) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

interface Located {
  offset: number;
}

/**
 * Where a path points in the YAML document: the key of the last segment when `atKey`, its value
 * otherwise; the deepest existing ancestor when the path does not exist (a missing field).
 */
function locate(root: Node | null, p: IssuePath, atKey: boolean): Located {
  let node: unknown = root;
  let offset = root?.range?.[0] ?? 0;
  for (let i = 0; i < p.length; i++) {
    const segment = p[i];
    const last = i === p.length - 1;
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isPair(item) && isScalar(item.key) && item.key.value === segment,
      );
      if (!pair) return { offset };
      const key = pair.key as Node;
      if (last && atKey) return { offset: key.range?.[0] ?? offset };
      node = pair.value;
      offset = (pair.value as Node | null)?.range?.[0] ?? key.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment] as Node | undefined;
      if (!item) return { offset };
      node = item;
      offset = item.range?.[0] ?? offset;
    } else {
      return { offset };
    }
  }
  return { offset };
}

/** The object keys the schema allows at a path (for "did you mean"). */
function allowedKeysAt(p: IssuePath): string[] {
  // biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definition tree
  let schema: any = topologySchema;
  const unwrap = () => {
    for (;;) {
      const def = schema?._zod?.def;
      if (!def) return;
      if (["default", "prefault", "optional", "nullable"].includes(def.type)) schema = def.innerType;
      else if (def.type === "pipe") schema = def.in;
      else return;
    }
  };
  unwrap();
  for (const segment of p) {
    const def = schema?._zod?.def;
    if (def?.type === "object") schema = def.shape[segment];
    else if (def?.type === "record") schema = def.valueType;
    else return [];
    unwrap();
  }
  const def = schema?._zod?.def;
  return def?.type === "object" ? Object.keys(def.shape).filter((k) => k !== "$schema") : [];
}

/** Check topology text: every problem at once, each with file, line and column. Pure. */
export function checkTopologyText(
  text: string,
  file: string,
  opts: { exists?: (relative: string) => boolean } = {},
): TopologyCheck {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const errors: TopologyIssue[] = [];
  const warnings: TopologyIssue[] = [];
  const at = (offset: number) => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, col: pos.col };
  };
  const push = (severity: Severity, p: IssuePath, message: string, atKey = false) => {
    const { offset } = locate(doc.contents, p, atKey);
    const issue = { file, ...at(offset), path: formatPath(p), message, severity };
    (severity === "error" ? errors : warnings).push(issue);
  };

  for (const e of doc.errors) {
    errors.push({
      file,
      ...at(e.pos[0]),
      path: "",
      message: `YAML syntax: ${e.message.split("\n")[0]}`,
      severity: "error",
    });
  }
  if (errors.length > 0) return { file, topology: undefined, errors, warnings };

  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) {
    errors.push({ file, line: 1, col: 1, path: "", message: "the topology is empty", severity: "error" });
    return { file, topology: undefined, errors, warnings };
  }
  if (typeof data !== "object" || Array.isArray(data)) {
    push(
      "error",
      [],
      "the topology must be a mapping of keys (name, balancer, app, sessions, memcached, ...)",
    );
    return { file, topology: undefined, errors, warnings };
  }

  // Structural problems first. Invalid fields are then pruned (so their defaults apply) and the
  // cross-field rules still run on the rest: one run reports every problem.
  const pruned: string[] = [];
  let candidate: unknown = data;
  let parsed = topologySchema.safeParse(candidate);
  for (const issue of parsed.success ? [] : parsed.error.issues) reportZodIssue(issue, data, push);
  for (let round = 0; !parsed.success && round < 8; round++) {
    candidate = structuredClone(candidate);
    for (const issue of parsed.error.issues) pruned.push(...prune(candidate, issue));
    parsed = topologySchema.safeParse(candidate);
  }
  if (parsed.success) {
    const usable = parsed.data;
    for (const rule of RULES) {
      if (
        rule.uses.some((u) => pruned.some((p) => p === u || p.startsWith(`${u}.`) || u.startsWith(`${p}.`)))
      ) {
        continue;
      }
      rule.check({
        topology: usable,
        exists: opts.exists,
        error: (p, m) => push("error", p, m, p[0] === "app" && p[1] === "nodes" && p.length === 3),
        warn: (p, m) => push("warning", p, m, true),
      });
    }
  }
  const byPosition = (a: TopologyIssue, b: TopologyIssue) => a.line - b.line || a.col - b.col;
  errors.sort(byPosition);
  warnings.sort(byPosition);
  const topology = errors.length === 0 && parsed.success ? normalizeTopology(parsed.data) : undefined;
  return { file, topology, errors, warnings };
}

/** Remove what an issue complains about from `data`; returns the dot paths removed. */
function prune(data: unknown, issue: z.core.$ZodIssue): string[] {
  const p = issue.path.filter((s): s is string | number => typeof s !== "symbol");
  const keys = issue.code === "unrecognized_keys" ? issue.keys.map((k) => [...p, k]) : [p];
  const removed: string[] = [];
  for (const target of keys) {
    if (target.length === 0) continue;
    let parent: unknown = data;
    for (const segment of target.slice(0, -1)) {
      parent =
        typeof parent === "object" && parent !== null
          ? (parent as Record<string | number, unknown>)[segment]
          : undefined;
    }
    if (typeof parent === "object" && parent !== null) {
      const record = parent as Record<string | number, unknown>;
      const key = target[target.length - 1] as string | number;
      // `name` is the only required field: a stand-in keeps the rest checkable
      if (target.length === 1 && key === "name") record[key] = "invalid-name";
      else delete record[key];
      removed.push(target.join("."));
    }
  }
  return removed;
}

function valueAt(data: unknown, p: IssuePath): unknown {
  let node = data;
  for (const segment of p) {
    node =
      typeof node === "object" && node !== null
        ? (node as Record<string | number, unknown>)[segment]
        : undefined;
  }
  return node;
}

function reportZodIssue(
  issue: z.core.$ZodIssue,
  data: unknown,
  push: (severity: Severity, p: IssuePath, message: string, atKey?: boolean) => void,
): void {
  const p = issue.path.filter((s): s is string | number => typeof s !== "symbol");
  if (issue.code === "unrecognized_keys") {
    const allowed = allowedKeysAt(p);
    for (const key of issue.keys) {
      const hint = didYouMean(key, allowed);
      const known = allowed.length > 0 ? ` (known keys: ${allowed.join(", ")})` : "";
      push("error", [...p, key], `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : known}`, true);
    }
    return;
  }
  if (issue.code === "invalid_key") {
    const inner = issue.issues[0];
    push("error", p, inner?.message ?? issue.message, true);
    return;
  }
  if (issue.code === "invalid_type" && valueAt(data, p) === undefined) {
    push("error", p, `${formatPath(p)} is required`);
    return;
  }
  if (issue.code === "invalid_value") {
    const options = issue.values.map(String);
    const given = String(valueAt(data, p));
    const hint = didYouMean(given, options);
    push(
      "error",
      p,
      `"${given}" is not one of ${options.join(", ")}${hint ? `; did you mean "${hint}"?` : ""}`,
    );
    return;
  }
  if (issue.code === "invalid_union") {
    // a union of alternatives: report the union's own message when it has one
    push("error", p, issue.message);
    return;
  }
  push("error", p, issue.message);
}

/**
 * Read and validate a topology file; throws TopologyError listing every problem. `shown` is the
 * name messages use (the path as the user gave it); `file` is where it is read.
 */
export async function loadTopology(file: string, shown: string = file): Promise<LoadedTopology> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new PhpclusterError(
      "TOPOLOGY_NOT_FOUND",
      e.code === "ENOENT"
        ? `${shown}: no such topology file`
        : `${shown}: cannot read the topology (${e.code})`,
      { hint: "create one with `phpcluster init`, or point to it with -f <path>", cause: err },
    );
  }
  const dir = path.dirname(path.resolve(file));
  const check = checkTopologyText(text, shown, { exists: (p) => existsSync(path.resolve(dir, p)) });
  if (!check.topology) throw new TopologyError(shown, check.errors);
  return {
    file: shown,
    dir: path.dirname(path.resolve(file)),
    topology: check.topology,
    warnings: check.warnings,
    text,
  };
}
