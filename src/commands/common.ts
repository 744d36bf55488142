import { Command, InvalidArgumentError, Option } from "commander";
import type { Style } from "../output/index.js";
import { table } from "../output/index.js";
import { connectHost } from "../runtime/address.js";
import type { NodeStatus } from "../runtime/driver.js";
import { parseDuration, type RuntimeChoice } from "../topology/index.js";

export interface CommonOptions {
  file: string;
  json?: boolean;
}

/** Every command takes -f/--file and --json (DESIGN.md). */
export function baseCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .option("-f, --file <path>", "topology file", "phpcluster.yml")
    .option("--json", "print exactly one JSON document on stdout")
    .showHelpAfterError("(run with --help for usage)");
}

export function runtimeOption(
  description = "runtime: auto, compose or native (wins over the topology)",
): Option {
  return new Option("--runtime <runtime>", description).choices(["auto", "compose", "native"]);
}

export function parseRuntime(value: string | undefined): RuntimeChoice | undefined {
  if (value === undefined) return undefined;
  if (value === "auto" || value === "compose" || value === "native") return value;
  throw new InvalidArgumentError(`"${value}" is not auto, compose or native`);
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

/** The node table shared by create and status. */
export function formatNodes(nodes: NodeStatus[], s: Style): string {
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
      n.detail ?? "",
    ]),
    (_row, col, text) => (col === 2 ? paint(text.trimEnd()) + text.slice(text.trimEnd().length) : text),
  );
}

export function balancerUrl(bind: string, port: number): string {
  const host = connectHost(bind);
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
}
