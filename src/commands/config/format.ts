import type { Style } from "../../output/index.js";
import { table } from "../../output/index.js";
import type { ConfigSetResult } from "../../runtime/config-change.js";
import type { ConfigEntry } from "../../topology/index.js";

const show = (v: unknown) =>
  v === null || v === undefined ? "-" : typeof v === "string" ? v : JSON.stringify(v);

export const NODE_OPTION = [
  "--node <node>",
  "with php.<directive>: this app node only (app.nodes.<node>.ini)",
] as const;

export function formatEntry(e: ConfigEntry, s: Style): string {
  return `${show(e.value)}${e.source === "default" ? s.dim(" (default)") : ""}`;
}

export function formatList(r: { entries: ConfigEntry[] }, s: Style, width?: number): string {
  return table(
    ["KEY", "VALUE", "SOURCE"],
    r.entries.map((e) => [e.key, show(e.value), e.source]),
    { style: (_row, col, text) => (col === 2 && text.trim() === "default" ? s.dim(text) : text), width },
  );
}

export type ConfigEditResult = Omit<ConfigSetResult, "warnings">;

export function formatSet(r: ConfigEditResult, s: Style): string {
  const lines = r.changes.map((c) => `${s.ok("✔")} ${c.key}: ${show(c.from)} → ${show(c.to)}`);
  for (const f of r.rendered) lines.push(`  ${f.action} ${f.path}`);
  if (r.applied) lines.push(`${s.ok("✔")} applied: restarted ${r.needs.join(", ")}`);
  else if (r.needs.length > 0)
    lines.push(s.dim(`apply it with: phpcluster restart ${r.needs.join(" ")} (or config set … --apply)`));
  return lines.join("\n");
}
