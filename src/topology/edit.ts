import { isMap, isScalar, type Node, parse, parseDocument, type Scalar, stringify, type YAMLMap } from "yaml";
import { fail } from "../errors.js";
import { type AnySchema, checkTopologyText, TopologyError, unwrapSchema } from "./load.js";
import { didYouMean } from "./rules.js";
import { INI_KEY_RE, topologySchema } from "./schema.js";

/**
 * `config` keys: a topology path such as `balancer.port` or `sessions.lockExpire`, or
 * `php.<directive>` for a php.ini directive of every app node (`app.ini`), or of one node with
 * `--node` (`app.nodes.<node>.ini`).
 */
export type ConfigPath = (string | number)[];

/** Every settable leaf of the topology, as dot paths (maps like app.ini are reached via php.*). */
export function topologyKeys(): string[] {
  const out: string[] = [];
  const walk = (schema: AnySchema, prefix: string) => {
    const def = unwrapSchema(schema)?._zod?.def;
    if (!def) return;
    if (def.type === "object") {
      for (const [k, v] of Object.entries(def.shape))
        if (k !== "$schema") walk(v, prefix ? `${prefix}.${k}` : k);
    } else if (def.type !== "record") {
      out.push(prefix);
    }
  };
  walk(topologySchema, "");
  return out;
}

export function configPath(key: string, node?: string): ConfigPath {
  if (key.startsWith("php.")) {
    const directive = key.slice(4);
    if (!INI_KEY_RE.test(directive)) throw fail.usage(`"${directive}" is not a php.ini directive name`);
    return node ? ["app", "nodes", node, "ini", directive] : ["app", "ini", directive];
  }
  if (node) throw fail.usage(`--node applies to php.<directive> keys only, not ${key}`);
  const keys = topologyKeys();
  if (!keys.includes(key)) {
    const hint = didYouMean(key, [...keys, "php.memory_limit"]);
    throw fail.usage(
      `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : ""}`,
      "keys are topology paths such as balancer.port or sessions.lockExpire, or php.<directive>",
    );
  }
  return key.split(".");
}

/** A value as typed on the command line, read as YAML: 8080 is a number, true a boolean, 1s a string. */
export function parseValue(text: string): unknown {
  try {
    const value = parse(text);
    return value === null ? text : value;
  } catch {
    return text;
  }
}

export interface Edit {
  path: ConfigPath;
  /** undefined removes the key. */
  value: unknown;
}

/**
 * Apply edits to topology text, keeping comments and layout, and validate the result: returns the
 * new text, or throws TopologyError (with positions in the edited text) so nothing gets written.
 */
export function editTopologyText(text: string, file: string, edits: Edit[]): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new TopologyError(file, checkTopologyText(text, file).errors);
  const next = spliceText(text, edits) ?? rebuild(doc, edits);
  const check = checkTopologyText(next, file);
  if (!check.topology) throw new TopologyError(file, check.errors);
  return next;
}

/**
 * Edit the text itself, one edit at a time, touching only the lines an edit must: a scalar that is
 * already in the file has just its characters replaced; a new key becomes new lines at the end
 * of the deepest block mapping that exists (its parents created with it, indented like the
 * file); a removed key loses its own lines (and a mapping the removal leaves empty loses its
 * own). Everything else — comments, their alignment, blank lines, quoting — stays byte for byte.
 * Layouts this cannot edit line by line (flow mappings, a key sharing its line) return undefined.
 */
function spliceText(text: string, edits: Edit[]): string | undefined {
  let out = text;
  for (const edit of edits) {
    const doc = parseDocument(out);
    if (doc.errors.length > 0) return undefined;
    const next =
      edit.value === undefined
        ? removeLines(out, doc, edit.path)
        : (replaceScalar(out, doc, edit) ?? insertLines(out, doc, edit));
    if (next === undefined) return undefined;
    out = next;
  }
  return out;
}

type Doc = ReturnType<typeof parseDocument>;

/** A scalar value on one line, as YAML writes it; undefined when it would need more than one. */
function inlineValue(value: unknown): string | undefined {
  if (typeof value === "object" && value !== null) return undefined;
  const repr = stringify(value).trimEnd();
  return repr.includes("\n") ? undefined : repr;
}

function replaceScalar(text: string, doc: Doc, edit: Edit): string | undefined {
  const node = doc.getIn(edit.path, true);
  if (!isScalar(node) || !node.range || node.value === null) return undefined;
  const repr = inlineValue(edit.value);
  if (repr === undefined) return undefined;
  return text.slice(0, node.range[0]) + repr + text.slice(node.range[1]);
}

const lineStart = (text: string, offset: number) => text.lastIndexOf("\n", offset - 1) + 1;
/** The offset just after the line holding `offset` (after its newline), or the end of the text. */
function lineEnd(text: string, offset: number): number {
  if (offset > 0 && text[offset - 1] === "\n") return offset;
  const nl = text.indexOf("\n", offset);
  return nl < 0 ? text.length : nl + 1;
}
const column = (text: string, offset: number) => offset - lineStart(text, offset);
/** Only blanks between the start of the line and `offset`. */
const startsItsLine = (text: string, offset: number) =>
  /^[ ]*$/.test(text.slice(lineStart(text, offset), offset));

/** A block mapping whose every key starts its own line (what line edits can work on). */
function blockMap(text: string, node: unknown): YAMLMap | undefined {
  if (!isMap(node) || node.flow) return undefined;
  for (const item of node.items) {
    if (!isScalar(item.key) || !item.key.range || !startsItsLine(text, item.key.range[0])) return undefined;
  }
  return node;
}

function insertLines(text: string, doc: Doc, edit: Edit): string | undefined {
  const repr = inlineValue(edit.value);
  if (repr === undefined) return undefined;
  // the deepest mapping of the path that exists, and the indentation steps down to it
  let parent = blockMap(text, doc.contents);
  if (!parent) return undefined;
  let depth = 0;
  let indent = parent.items[0]?.key ? column(text, (parent.items[0].key as Scalar).range?.[0] ?? 0) : 0;
  let step = 0;
  while (depth < edit.path.length - 1) {
    const child = parent.get(edit.path[depth], true);
    if (child === undefined) break;
    const map = blockMap(text, child);
    if (!map || map.items.length === 0) return undefined; // a scalar, an empty or a flow mapping
    const childIndent = column(text, (map.items[0]?.key as Scalar).range?.[0] ?? 0);
    step = childIndent - indent;
    indent = childIndent;
    parent = map;
    depth++;
  }
  if (parent.get(edit.path[depth], true) !== undefined) return undefined; // there, but not a scalar
  if (step <= 0) step = indentStep(text, doc);
  const last = parent.items[parent.items.length - 1];
  const end = last ? ((last.value as Node | null)?.range?.[1] ?? (last.key as Node).range?.[1]) : undefined;
  const lines: string[] = [];
  edit.path.slice(depth).forEach((segment, i, rest) => {
    const key = inlineValue(String(segment));
    const pad = " ".repeat(indent + i * step);
    lines.push(i === rest.length - 1 ? `${pad}${key}: ${repr}` : `${pad}${key}:`);
  });
  if (end === undefined) {
    const sep = text.length === 0 || text.endsWith("\n") ? "" : "\n";
    return `${text}${sep}${lines.join("\n")}\n`;
  }
  const at = lineEnd(text, end);
  const sep = at > 0 && text[at - 1] !== "\n" ? "\n" : "";
  return `${text.slice(0, at)}${sep}${lines.join("\n")}\n${text.slice(at)}`;
}

/** The indentation step the file uses (the first nested mapping's), else 2. */
function indentStep(text: string, doc: Doc): number {
  const root = doc.contents;
  if (isMap(root)) {
    for (const item of root.items) {
      if (isMap(item.value) && !item.value.flow && item.value.items[0]?.key) {
        const n = column(text, (item.value.items[0].key as Scalar).range?.[0] ?? 0);
        if (n > 0) return n;
      }
    }
  }
  return 2;
}

function removeLines(text: string, doc: Doc, path: ConfigPath): string | undefined {
  // a mapping the removal leaves empty goes with it (app.nodes.app2.ini → app.nodes.app2 → app.nodes)
  let target = path;
  while (target.length > 1) {
    const parent = doc.getIn(target.slice(0, -1), true);
    if (isMap(parent) && parent.items.length === 1) target = target.slice(0, -1);
    else break;
  }
  const parent = blockMap(text, target.length === 1 ? doc.contents : doc.getIn(target.slice(0, -1), true));
  if (!parent) return undefined;
  const pair = parent.items.find(
    (item) => isScalar(item.key) && item.key.value === target[target.length - 1],
  );
  if (!pair) return text; // not in the file: nothing to remove
  const start = lineStart(text, (pair.key as Scalar).range?.[0] ?? 0);
  const valueEnd = (pair.value as Node | null)?.range?.[1] ?? (pair.key as Scalar).range?.[1] ?? start;
  const end = lineEnd(text, valueEnd);
  return text.slice(0, start) + text.slice(end);
}

/** Otherwise edit the document (comments are kept; the library may re-space them). */
function rebuild(doc: ReturnType<typeof parseDocument>, edits: Edit[]): string {
  for (const edit of edits) {
    if (edit.value === undefined) {
      doc.deleteIn(edit.path);
      // drop maps the removal left empty (app.nodes.app2.ini → app.nodes.app2 → app.nodes)
      for (let i = edit.path.length - 1; i > 0; i--) {
        const parent = doc.getIn(edit.path.slice(0, i), true);
        if (isMap(parent) && parent.items.length === 0) doc.deleteIn(edit.path.slice(0, i));
        else break;
      }
    } else {
      const existing = doc.getIn(edit.path, true);
      if (isScalar(existing)) existing.value = edit.value;
      else doc.setIn(edit.path, edit.value);
    }
  }
  return doc.toString();
}

/** The value at a path of the file as written, if the file sets it. */
export function writtenValue(text: string, path: ConfigPath): unknown {
  const value = parseDocument(text).getIn(path);
  return value === null ? undefined : value;
}
