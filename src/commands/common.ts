import { Command, InvalidArgumentError, Option } from "commander";
import type { RuntimeChoice } from "../topology/index.js";

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

export function runtimeOption(description = "runtime: auto, compose or native (wins over the topology)"): Option {
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
