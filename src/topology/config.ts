import { parse } from "yaml";
import { configPath, topologyKeys, writtenValue } from "./edit.js";
import { topologySchema } from "./schema.js";

/** One `config` key, its value (written or default) and where the value comes from. */
export interface ConfigEntry {
  key: string;
  value: unknown;
  source: "file" | "default";
}

function valueAt(data: unknown, p: (string | number)[]): unknown {
  let node = data;
  for (const s of p)
    node = typeof node === "object" && node !== null ? (node as Record<string, unknown>)[s] : undefined;
  return node;
}

/** The file's values with defaults filled, in the file's own units (durations as written). */
function withDefaults(text: string) {
  return topologySchema.parse(parse(text));
}

function entryAt(key: string, p: (string | number)[], text: string, parsed: unknown): ConfigEntry {
  const written = writtenValue(text, p);
  let value = valueAt(parsed, p);
  // a node's own php.ini directive falls back to the one of every app node
  if (value === undefined && p[0] === "app" && p[1] === "nodes")
    value = valueAt(parsed, ["app", "ini", p[4] as string]);
  return { key, value: value ?? null, source: written === undefined ? "default" : "file" };
}

/** `config get KEY [--node N]` on a valid topology's text. Pure. */
export function configEntry(text: string, key: string, node?: string): ConfigEntry {
  return entryAt(key, configPath(key, node), text, withDefaults(text));
}

/** `config list [--node N]`: every key, then the php.ini directives the file sets. Pure. */
export function configEntries(text: string, node?: string): ConfigEntry[] {
  const parsed = withDefaults(text);
  const entries = topologyKeys().map((key) => entryAt(key, key.split("."), text, parsed));
  const ini = { ...parsed.app.ini, ...(node ? (parsed.app.nodes[node]?.ini ?? {}) : {}) };
  for (const directive of Object.keys(ini).sort()) {
    entries.push(entryAt(`php.${directive}`, configPath(`php.${directive}`, node), text, parsed));
  }
  return entries;
}
