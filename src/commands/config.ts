import { readFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { parse } from "yaml";
import type { Context } from "../context.js";
import { NotSupportedError, UsageError } from "../errors.js";
import { applyWrites, planWrites } from "../files/write-plan.js";
import type { Style } from "../output/index.js";
import { table } from "../output/index.js";
import { type ClusterManifest, MANIFEST_PATH } from "../render/index.js";
import { recordedRuntime, stateDirOf } from "../runtime/cluster.js";
import { openCluster } from "../runtime/index.js";
import { restartNodes, writeRendered } from "../runtime/lifecycle.js";
import {
  checkTopologyText,
  clusterNodes,
  configPath,
  type Edit,
  editTopologyText,
  formatIssue,
  loadTopology,
  parseValue,
  type Topology,
  topologyKeys,
  topologySchema,
  writtenValue,
} from "../topology/index.js";
import { examples } from "./common.js";

interface ConfigOptions {
  file: string;
  json?: boolean;
  node?: string;
}

interface Entry {
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

async function readTopology(file: string, cwd: string) {
  const absolute = path.resolve(cwd, file);
  const loaded = await loadTopology(absolute);
  const text = await readFile(absolute, "utf8");
  const parsed = topologySchema.parse(parse(text));
  return { absolute, loaded, text, parsed };
}

function entryFor(key: string, p: (string | number)[], text: string, parsed: unknown): Entry {
  const written = writtenValue(text, p);
  let value = valueAt(parsed, p);
  if (value === undefined && p[0] === "app" && p[1] === "nodes")
    value = valueAt(parsed, ["app", "ini", p[4] as string]);
  return { key, value: value ?? null, source: written === undefined ? "default" : "file" };
}

// ------------------------------------------------------------------------------------------- get

export async function runConfigGet(key: string, opts: ConfigOptions, ctx: Context): Promise<Entry> {
  const p = configPath(key, opts.node);
  const { text, parsed } = await readTopology(opts.file, ctx.cwd);
  return entryFor(key, p, text, parsed);
}

// ------------------------------------------------------------------------------------------ list

export async function runConfigList(opts: ConfigOptions, ctx: Context): Promise<{ entries: Entry[] }> {
  const { text, parsed } = await readTopology(opts.file, ctx.cwd);
  const entries = topologyKeys().map((key) => entryFor(key, key.split("."), text, parsed));
  const ini = { ...parsed.app.ini, ...(opts.node ? (parsed.app.nodes[opts.node]?.ini ?? {}) : {}) };
  for (const directive of Object.keys(ini).sort()) {
    entries.push(entryFor(`php.${directive}`, configPath(`php.${directive}`, opts.node), text, parsed));
  }
  return { entries };
}

// ---------------------------------------------------------------------------------- set / unset

export interface ConfigChange {
  key: string;
  from: unknown;
  to: unknown;
}

export interface ConfigSetResult {
  file: string;
  changes: ConfigChange[];
  /** Rendered files rewritten for the running cluster (empty when no cluster was created). */
  rendered: { path: string; action: string }[];
  /** Nodes the change needs restarted (app nodes rolling, lb reloaded). */
  needs: string[];
  applied: boolean;
}

/** Which nodes a change needs restarted: those whose rendered files changed, memcached on memory. */
function nodesToRestart(
  before: Topology,
  after: Topology,
  changedFiles: string[],
  manifest: ClusterManifest | undefined,
) {
  const needs = new Set<string>();
  for (const n of manifest?.nodes ?? []) if (n.files.some((f) => changedFiles.includes(f))) needs.add(n.name);
  if (before.memcached.memory !== after.memcached.memory) {
    for (const n of clusterNodes(after)) if (n.role === "memcached") needs.add(n.name);
  }
  return clusterNodes(after)
    .map((n) => n.name)
    .filter((n) => needs.has(n));
}

function nodeSetChanged(before: Topology, after: Topology): string | undefined {
  const names = (t: Topology) =>
    clusterNodes(t)
      .map((n) => n.name)
      .join(",");
  if (names(before) !== names(after)) return "the number of app or memcached nodes";
  if (before.balancer.port !== after.balancer.port || before.balancer.bind !== after.balancer.bind) {
    return "the balancer's address (the native runtime derives every node's port from it)";
  }
  if (before.name !== after.name) return "the cluster name";
  return undefined;
}

async function runEdit(
  edits: Edit[],
  keys: string[],
  opts: ConfigOptions & { apply?: boolean },
  ctx: Context,
) {
  const { absolute, loaded, text } = await readTopology(opts.file, ctx.cwd);
  const next = editTopologyText(text, opts.file, edits); // validated: throws before anything is written
  const checked = checkTopologyText(next, opts.file);
  const before = loaded.topology;
  const after = checked.topology as Topology;
  const changes = edits.map((e, i) => ({
    key: keys[i] ?? "",
    from: writtenValue(text, e.path) ?? null,
    to: e.value ?? null,
  }));
  const result: ConfigSetResult = { file: opts.file, changes, rendered: [], needs: [], applied: false };
  const runtime = await recordedRuntime(stateDirOf(loaded));
  const reshaped = nodeSetChanged(before, after);
  if (runtime && reshaped && opts.apply) {
    throw new NotSupportedError(
      runtime,
      `--apply of a change to ${reshaped}: run \`phpcluster destroy\`, then \`phpcluster create\` (nothing was changed)`,
    );
  }

  await applyWrites(
    await planWrites([{ path: path.basename(absolute), content: next }], path.dirname(absolute)),
  );
  for (const w of checked.warnings) ctx.reporter.warn(formatIssue(w));
  if (!runtime) {
    if (opts.apply) ctx.reporter.warn("the cluster has not been created: nothing to apply");
    return result;
  }
  const { cluster, driver } = await openCluster(opts.file, ctx.cwd, runtime);
  let manifest: ClusterManifest | undefined;
  try {
    manifest = JSON.parse(
      await readFile(path.join(cluster.renderDir, MANIFEST_PATH), "utf8"),
    ) as ClusterManifest;
  } catch {}
  if (reshaped) {
    ctx.reporter.warn(
      `this changes ${reshaped}: apply it with \`phpcluster destroy\`, then \`phpcluster create\``,
    );
    return result;
  }
  const plan = await writeRendered(cluster, runtime);
  result.rendered = plan
    .filter((p) => p.action !== "unchanged")
    .map((p) => ({ path: p.path, action: p.action }));
  result.needs = nodesToRestart(
    before,
    after,
    result.rendered.map((r) => r.path),
    manifest,
  );
  if (opts.apply && result.needs.length > 0) {
    await restartNodes(cluster, driver, result.needs, {
      allAtOnce: false,
      timeoutMs: 60_000,
      reporter: ctx.reporter,
    });
    result.applied = true;
  }
  return result;
}

export async function runConfigSet(pairs: string[], opts: ConfigOptions & { apply?: boolean }, ctx: Context) {
  const edits: Edit[] = [];
  const keys: string[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new UsageError(
        `"${pair}" is not KEY=VALUE`,
        "for example: phpcluster config set php.memory_limit=512M",
      );
    const key = pair.slice(0, eq);
    edits.push({ path: configPath(key, opts.node), value: parseValue(pair.slice(eq + 1)) });
    keys.push(key);
  }
  return runEdit(edits, keys, opts, ctx);
}

export async function runConfigUnset(
  keys: string[],
  opts: ConfigOptions & { apply?: boolean },
  ctx: Context,
) {
  return runEdit(
    keys.map((key) => ({ path: configPath(key, opts.node), value: undefined })),
    keys,
    opts,
    ctx,
  );
}

// ----------------------------------------------------------------------------------------- output

const show = (v: unknown) =>
  v === null || v === undefined ? "-" : typeof v === "string" ? v : JSON.stringify(v);

export function formatEntry(e: Entry, s: Style): string {
  return `${show(e.value)}${e.source === "default" ? s.dim(" (default)") : ""}`;
}

export function formatList(r: { entries: Entry[] }, s: Style): string {
  return table(
    ["KEY", "VALUE", "SOURCE"],
    r.entries.map((e) => [e.key, show(e.value), e.source]),
    (_row, col, text) => (col === 2 && text.trim() === "default" ? s.dim(text) : text),
  );
}

export function formatSet(r: ConfigSetResult, s: Style): string {
  const lines = r.changes.map((c) => `${s.ok("✔")} ${c.key}: ${show(c.from)} → ${show(c.to)}`);
  for (const f of r.rendered) lines.push(`  ${f.action} ${f.path}`);
  if (r.applied) lines.push(`${s.ok("✔")} applied: restarted ${r.needs.join(", ")}`);
  else if (r.needs.length > 0)
    lines.push(s.dim(`apply it with: phpcluster restart ${r.needs.join(" ")} (or config set … --apply)`));
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------- command

function sub(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .option("-f, --file <path>", "topology file", "phpcluster.yml")
    .option("--json", "print exactly one JSON document on stdout")
    .option("--node <node>", "with php.<directive>: this app node only (app.nodes.<node>.ini)");
}

export function configCommand(getCtx: () => Context): Command {
  const config = new Command("config")
    .description(
      "read and edit the topology file (comments kept) and re-render; php.<directive> keys are php.ini",
    )
    .option("-f, --file <path>", "topology file", "phpcluster.yml")
    .option("--json", "print exactly one JSON document on stdout")
    .addHelpText(
      "after",
      examples([
        "phpcluster config get balancer.strategy",
        "phpcluster config set php.memory_limit=512M php.max_execution_time=60 --apply",
        "phpcluster config set php.display_errors=On --node app2",
        "phpcluster config unset php.display_errors --node app2",
        "phpcluster config list --json",
      ]),
    );
  config.addCommand(
    sub("get", "print one key's value (and whether it is the default)")
      .argument("<key>", "e.g. balancer.port or php.memory_limit")
      .action(async (key: string, opts: ConfigOptions) => {
        const ctx = getCtx();
        ctx.reporter.result("config get", await runConfigGet(key, opts, ctx), formatEntry);
      }),
  );
  config.addCommand(
    sub(
      "set",
      "set KEY=VALUE pairs in the topology, validate, re-render; --apply restarts what the change needs",
    )
      .argument("<pairs...>", "KEY=VALUE")
      .option("--apply", "restart the nodes the change needs (app nodes one at a time, drained)")
      .action(async (pairs: string[], opts: ConfigOptions & { apply?: boolean }) => {
        const ctx = getCtx();
        ctx.reporter.result("config set", await runConfigSet(pairs, opts, ctx), formatSet);
      }),
  );
  config.addCommand(
    sub("unset", "remove keys from the topology (their defaults apply again)")
      .argument("<keys...>", "keys to remove")
      .option("--apply", "restart the nodes the change needs")
      .action(async (keys: string[], opts: ConfigOptions & { apply?: boolean }) => {
        const ctx = getCtx();
        ctx.reporter.result("config unset", await runConfigUnset(keys, opts, ctx), formatSet);
      }),
  );
  config.addCommand(
    sub("list", "every key with its value and whether the file sets it").action(
      async (opts: ConfigOptions) => {
        const ctx = getCtx();
        ctx.reporter.result("config list", await runConfigList(opts, ctx), formatList);
      },
    ),
  );
  return config;
}
