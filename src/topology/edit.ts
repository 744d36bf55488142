import { isMap, isScalar, parse, parseDocument, stringify } from "yaml";
import { fail } from "../errors.js";
import { checkTopologyText, TopologyError } from "./load.js";
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
  // biome-ignore lint/suspicious/noExplicitAny: walking zod's definition tree
  const walk = (schema: any, prefix: string) => {
    let s = schema;
    for (;;) {
      const def = s?._zod?.def;
      if (!def) return;
      if (["default", "prefault", "optional", "nullable"].includes(def.type)) s = def.innerType;
      else if (def.type === "pipe") s = def.in;
      else break;
    }
    const def = s._zod.def;
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
  const next = spliceScalars(text, doc, edits) ?? rebuild(doc, edits);
  const check = checkTopologyText(next, file);
  if (!check.topology) throw new TopologyError(file, check.errors);
  return next;
}

/**
 * When every edit replaces a scalar that is already in the file, replace just those characters:
 * everything else (comments, their alignment, quoting of other values) stays byte for byte.
 */
function spliceScalars(
  text: string,
  doc: ReturnType<typeof parseDocument>,
  edits: Edit[],
): string | undefined {
  const spans: { start: number; end: number; text: string }[] = [];
  for (const edit of edits) {
    const node = doc.getIn(edit.path, true);
    if (edit.value === undefined || !isScalar(node) || !node.range) return undefined;
    if (typeof edit.value === "object" && edit.value !== null) return undefined;
    const repr = stringify(edit.value).trimEnd();
    if (repr.includes("\n")) return undefined;
    spans.push({ start: node.range[0], end: node.range[1], text: repr });
  }
  let out = text;
  for (const span of spans.sort((a, b) => b.start - a.start)) {
    out = out.slice(0, span.start) + span.text + out.slice(span.end);
  }
  return out;
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
