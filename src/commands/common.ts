import { InvalidArgumentError, Option } from "commander";
import type { Style } from "../output/index.js";
import { table } from "../output/index.js";
import type { NodeStatus } from "../runtime/driver.js";
import { formatDuration, parseDuration } from "../topology/duration.js";

export function runtimeOption(
  description = "runtime: auto, compose or native (wins over the topology)",
): Option {
  return new Option("--runtime <runtime>", description).choices(["auto", "compose", "native", "swarm"]);
}

export function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}

/** commander parser for durations such as 90s or 2m. */
export function durationOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms === 0)
    throw new InvalidArgumentError(`"${value}" is not a duration such as 90s or 2m`);
  return ms;
}

/** `--timeout <duration>`, its default shown as a duration (`2m`) that the option accepts back. */
export function timeoutOption(description: string, defaultMs: number): Option {
  return new Option("--timeout <duration>", description)
    .argParser(durationOption)
    .default(defaultMs, formatDuration(defaultMs));
}

export function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`"${value}" is not a whole number (0 or more)`);
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return n;
}

/** The DETAIL column: the runtime's word on the node, and for Memcached nodes what they hold. */
function nodeDetail(n: NodeStatus): string {
  return [
    n.detail,
    n.warming ? "warming: filling from its peers" : undefined,
    n.items !== undefined ? `${n.items.toLocaleString("en-US")} items` : undefined,
  ]
    .filter((part) => part !== undefined && part !== "")
    .join("; ");
}

/** The node table shared by create, up and status; its DETAIL column wraps to fit `width`. */
export function formatNodes(nodes: NodeStatus[], s: Style, width?: number): string {
  const paint = (state: string) =>
    state === "running" ? s.ok(state) : state === "unhealthy" ? s.warn(state) : s.err(state);
  return table(
    ["NODE", "ROLE", "STATE", "ADDRESS", "PID", "DETAIL"],
    nodes.map((n) => [
      n.name,
      n.role,
      n.state,
      n.address,
      n.pid === undefined ? "-" : String(n.pid),
      nodeDetail(n),
    ]),
    {
      style: (_row, col, text) =>
        col === 2 ? paint(text.trimEnd()) + text.slice(text.trimEnd().length) : text,
      width,
    },
  );
}
