import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from "yaml";
import type { z } from "zod";
import { PhpclusterError } from "../errors.js";
import { didYouMean, type IssuePath, RULES, type Severity, SHIPPED_DIRECTIVES } from "./rules.js";
import { DURATION_SCHEMAS, topologySchema } from "./schema.js";
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

// biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definition tree
export type AnySchema = any;

/** Strip the wrappers (default, optional, pipe) off a schema. */
export function unwrapSchema(schema: AnySchema): AnySchema {
  let s = schema;
  for (;;) {
    const def = s?._zod?.def;
    if (!def) return s;
    if (["default", "prefault", "optional", "nullable"].includes(def.type)) s = def.innerType;
    else if (def.type === "pipe") s = def.in;
    else return s;
  }
}

/** The schema of the field at a path (undefined when the path leaves the schema). */
function schemaAt(p: IssuePath): AnySchema {
  let schema: AnySchema = unwrapSchema(topologySchema);
  for (const segment of p) {
    const def = schema?._zod?.def;
    if (def?.type === "object") schema = def.shape[segment];
    else if (def?.type === "record") schema = def.valueType;
    else if (def?.type === "array") schema = def.element;
    else return undefined;
    schema = unwrapSchema(schema);
  }
  return schema;
}

/** The object keys the schema allows at a path (for "did you mean"). */
function allowedKeysAt(p: IssuePath): string[] {
  const def = schemaAt(p)?._zod?.def;
  return def?.type === "object" ? Object.keys(def.shape).filter((k) => k !== "$schema") : [];
}

const SAFE = Number.MAX_SAFE_INTEGER;

/** What a field takes, in the topology's words: "a number from 1 to 65535", "true or false". */
function expectedWords(schema: AnySchema): string | undefined {
  const def = schema?._zod?.def;
  if (!def) return undefined;
  switch (def.type) {
    case "number": {
      const min =
        Number.isFinite(schema.minValue) && Math.abs(schema.minValue) < SAFE ? schema.minValue : undefined;
      const max =
        Number.isFinite(schema.maxValue) && Math.abs(schema.maxValue) < SAFE ? schema.maxValue : undefined;
      // "a number from 1 to 65535" (whole is implied by the bounds; a fraction is told apart)
      if (min !== undefined && max !== undefined) return `a number from ${min} to ${max}`;
      const what = schema.isInt ? "a whole number" : "a number";
      if (min !== undefined) return `${what} of at least ${min}`;
      if (max !== undefined) return `${what} of at most ${max}`;
      return what;
    }
    case "boolean":
      return "true or false";
    case "string":
      return DURATION_SCHEMAS.has(schema) ? "a duration such as 500ms, 2s or 1m" : "a string";
    case "enum":
      return `one of ${Object.values(def.entries).map(String).join(", ")}`;
    case "object":
    case "record":
      return "a mapping of keys";
    case "array":
      return "a list";
    default:
      return undefined;
  }
}

/** A value as the user wrote it: "eighty" quoted, numbers and booleans bare, collections named. */
function givenWords(value: unknown): string {
  if (value === null) return "nothing (null)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

const PARSE_OPTIONS = { prettyErrors: false, uniqueKeys: true } as const;

/**
 * The YAML syntax problems of a text, each real problem once. The parser's complaints that only
 * echo an earlier one are dropped: the lines after a tab-indented line ("All mapping items must
 * start at the same column", one per line) are re-read with the tabs as spaces, and an
 * indentation complaint on the line of, or just after, a reported problem is its echo.
 */
function yamlIssues(text: string, file: string, doc: Document, lineCounter: LineCounter): TopologyIssue[] {
  const issue = (offset: number, message: string, counter = lineCounter, p = ""): TopologyIssue => {
    const pos = counter.linePos(offset);
    return { file, line: pos.line, col: pos.col, path: p, message, severity: "error" };
  };
  const out: TopologyIssue[] = [];
  let errors = doc.errors;
  let counter = lineCounter;
  let current = doc;
  const tabs = errors.filter((e) => e.code === "TAB_AS_INDENT");
  if (tabs.length > 0) {
    for (const e of tabs) {
      out.push(issue(e.pos[0], "YAML syntax: a tab indents this line; YAML indents with spaces only"));
    }
    const tabLines = new Set(tabs.map((e) => lineCounter.linePos(e.pos[0]).line));
    const repaired = text
      .split("\n")
      .map((line, i) =>
        tabLines.has(i + 1) ? line.replace(/^[ \t]+/, (ws) => ws.replace(/\t/g, "  ")) : line,
      )
      .join("\n");
    counter = new LineCounter();
    current = parseDocument(repaired, { ...PARSE_OPTIONS, lineCounter: counter });
    errors = current.errors.filter((e) => !tabLines.has(counter.linePos(e.pos[0]).line));
  }
  for (const e of errors) {
    const line = counter.linePos(e.pos[0]).line;
    const echo = out.some((o) => line === o.line || (line === o.line + 1 && e.code === "BAD_INDENT"));
    if (echo && e.code !== "DUPLICATE_KEY") continue;
    if (e.code === "DUPLICATE_KEY") {
      const dup = duplicateKey(current, e.pos[0]);
      if (dup) {
        const first = counter.linePos(dup.firstOffset).line;
        out.push(
          issue(
            e.pos[0],
            `duplicate key "${dup.key}" (it is already set on line ${first}: a key may appear once)`,
            counter,
            formatPath(dup.path),
          ),
        );
        continue;
      }
    }
    out.push(
      issue(
        e.pos[0],
        `YAML syntax: ${e.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "")}`,
        counter,
      ),
    );
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

/** The key a DUPLICATE_KEY error points at, its path, and where the key was first set. */
function duplicateKey(
  doc: Document,
  offset: number,
): { key: string; path: IssuePath; firstOffset: number } | undefined {
  let found: { key: string; path: IssuePath; firstOffset: number } | undefined;
  visit(doc, {
    Pair(_, pair, ancestors) {
      if (!isScalar(pair.key) || pair.key.range?.[0] !== offset) return;
      const key = String(pair.key.value);
      const parent = ancestors[ancestors.length - 1];
      const first = isMap(parent)
        ? parent.items.find((item) => isScalar(item.key) && String(item.key.value) === key)
        : undefined;
      const p: IssuePath = ancestors.filter(isPair).map((a) => (isScalar(a.key) ? String(a.key.value) : "?"));
      found = { key, path: [...p, key], firstOffset: (first?.key as Node | undefined)?.range?.[0] ?? offset };
      return visit.BREAK;
    },
  });
  return found;
}

export interface CheckOptions {
  /** Does a path relative to the topology file exist? (Unset: file checks are skipped.) */
  exists?: (relative: string) => boolean;
  /** The php.ini directives the installed PHP reports, checked with the shipped list. */
  directives?: readonly string[];
}

/** Check topology text: every problem at once, each with file, line and column. Pure. */
export function checkTopologyText(text: string, file: string, opts: CheckOptions = {}): TopologyCheck {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { ...PARSE_OPTIONS, lineCounter });
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

  if (doc.errors.length > 0) errors.push(...yamlIssues(text, file, doc, lineCounter));
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
        directives: opts.directives ? new Set([...SHIPPED_DIRECTIVES, ...opts.directives]) : undefined,
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
  // a wrong type or a number out of range: say what the field takes, in the topology's words
  const numeric = issue.code === "too_small" || issue.code === "too_big";
  if ((issue.code === "invalid_type" || (numeric && issue.origin === "number")) && p[0] !== "name") {
    const value = valueAt(data, p);
    const schema = schemaAt(p);
    const expected =
      issue.code === "invalid_type" && issue.expected === "int" && typeof value === "number"
        ? expectedWords(schema)?.replace(/^a number/, "a whole number")
        : expectedWords(schema);
    if (expected) {
      push("error", p, `expected ${expected}, got ${givenWords(value)}`);
      return;
    }
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
export async function loadTopology(
  file: string,
  shown: string = file,
  opts: Pick<CheckOptions, "directives"> = {},
): Promise<LoadedTopology> {
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
  const check = checkTopologyText(text, shown, {
    exists: (p) => existsSync(path.resolve(dir, p)),
    directives: opts.directives,
  });
  if (!check.topology) throw new TopologyError(shown, check.errors);
  return {
    file: shown,
    dir: path.dirname(path.resolve(file)),
    topology: check.topology,
    warnings: check.warnings,
    text,
  };
}
