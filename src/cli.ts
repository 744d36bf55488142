import { setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { COMMANDS, type CommandModule } from "./commands/index.js";
import type { Context } from "./context.js";
import { EXIT, fail, PhpclusterError } from "./errors.js";
import { type Reporter, selectReporter } from "./output/index.js";
import type { DriverFactory } from "./runtime/driver.js";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
};

export interface CliIO {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  isTTY: boolean;
  /** Tests: another driver factory (a fake driver). */
  driverFor?: DriverFactory;
  /** Tests: abort as Ctrl-C would. Default: SIGINT and SIGTERM of this process. */
  signal?: AbortSignal;
  /** Tests: parse only; every command's action reports what it was given instead of running. */
  onParsed?: (parsed: ParsedCommand) => void;
}

/** What a command was given (for the options table test). */
export interface ParsedCommand {
  command: string;
  globals: GlobalOptions;
  args: unknown[];
  options: Record<string, unknown>;
}

/** The options every command takes, declared once here and read the same way everywhere. */
export interface GlobalOptions {
  file: string;
  json: boolean;
  color: boolean;
  debug: boolean;
}

const DEFAULT_FILE = "phpcluster.yml";

/** Add the global options to a command (the root, a group, a leaf: any of them may carry them). */
export function addGlobalOptions(cmd: Command): Command {
  return cmd
    .option("-f, --file <path>", `topology file (default: ${DEFAULT_FILE})`)
    .option("--json", "print exactly one JSON document on stdout")
    .option("--no-color", "no colours (NO_COLOR is honoured too)")
    .option("--debug", "show stack traces of errors");
}

/** The global options as given anywhere on the line: the innermost command that was given one wins. */
export function globalOptions(cmd: Command, env: NodeJS.ProcessEnv = {}): GlobalOptions {
  const chain: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) chain.push(c);
  const given = <T>(key: string): T | undefined => {
    for (const c of chain) if (c.getOptionValueSource(key) === "cli") return c.getOptionValue(key) as T;
    return undefined;
  };
  return {
    file: given<string>("file") ?? DEFAULT_FILE,
    json: given<boolean>("json") ?? false,
    color: given<boolean>("color") ?? true,
    debug: given<boolean>("debug") ?? env.PHPCLUSTER_DEBUG === "1",
  };
}

/** `validate`, `config set`: the command's path below the root. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ") || "phpcluster";
}

/** What a command module gets to define its command. */
export interface App {
  /** The context of this run, as the global options read at this command say. */
  context(cmd: Command): Context;
  /** A subcommand of a group, carrying the global options. */
  subcommand(parent: Command, name: string, description: string): Command;
}

/**
 * Build the program, run it, and return the exit code: the only place that decides exit codes.
 * Commands are loaded when they run: the root knows only their names and summaries, and loads a
 * command's module (and what it imports) just before commander parses its arguments.
 */
export async function runCli(io: CliIO): Promise<number> {
  const args = io.argv.slice(2);
  // before (or without) a parse: enough to word a usage error the way the user asked
  const early = {
    json: args.includes("--json"),
    debug: args.includes("--debug") || io.env.PHPCLUSTER_DEBUG === "1",
  };
  let name = "phpcluster";
  let reporter: Reporter | undefined;
  let globals: GlobalOptions | undefined;
  const getReporter = (g: Pick<GlobalOptions, "json" | "color">): Reporter => {
    reporter ??= selectReporter({
      json: g.json,
      color: g.color && !args.includes("--no-color"),
      env: io.env,
      streams: { stdout: io.stdout, stderr: io.stderr },
      isTTY: io.isTTY,
    });
    return reporter;
  };

  // The first Ctrl-C (or SIGTERM) aborts: long operations stop what they started and the exit
  // code is 130. A second one exits at once. (`on`, not `once`: with no listener left, execa's
  // exit hook would re-raise the signal and end the process before the cleanup.)
  const abort = new AbortController();
  // every request in flight listens on it (a load keeps dozens open): not a leak
  setMaxListeners(0, abort.signal);
  const onSignal = () => {
    if (abort.signal.aborted) process.exit(EXIT.CANCELLED);
    abort.abort();
  };
  if (io.signal) io.signal.addEventListener("abort", () => abort.abort(), { once: true });
  else {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }

  const app: App = {
    context(cmd) {
      globals = globalOptions(cmd, io.env);
      return {
        command: commandPath(cmd),
        reporter: getReporter(globals),
        cwd: io.cwd,
        env: io.env,
        file: globals.file,
        debug: globals.debug,
        signal: abort.signal,
        driverFor: io.driverFor,
      };
    },
    subcommand(parent, sub, description) {
      const cmd = addGlobalOptions(parent.command(sub).description(description));
      return cmd;
    },
  };

  const program = addGlobalOptions(
    new Command("phpcluster")
      .description(
        "Provision a load-balanced PHP session cluster from one topology file, and prove that sessions survive",
      )
      .version(pkg.version, "-V, --version", "print the version")
      .enablePositionalOptions()
      .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
      .exitOverride()
      .showHelpAfterError("(run with --help for usage)"),
  );
  const loaded = new WeakSet<Command>();
  const load = async (cmd: Command, module: () => Promise<CommandModule>) => {
    if (loaded.has(cmd)) return;
    loaded.add(cmd);
    (await module()).configure(cmd, app);
    const record = io.onParsed;
    if (record) {
      const replace = (c: Command) => {
        if (c.commands.length > 0) c.commands.forEach(replace);
        else
          c.action((...given: unknown[]) => {
            const self = given[given.length - 1] as Command;
            record({
              command: commandPath(self),
              globals: globalOptions(self, io.env),
              args: given.slice(0, -2),
              options: self.opts(),
            });
          });
      };
      replace(cmd);
    }
  };
  for (const spec of COMMANDS) {
    const cmd = addGlobalOptions(program.command(spec.name).description(spec.summary));
    if (spec.group) cmd.enablePositionalOptions();
    // a group's subcommands: their names are known once the group's module is loaded
    cmd.hook("preSubcommand", (_group, sub) => {
      name = commandPath(sub);
    });
  }
  program.hook("preSubcommand", async (_root, sub) => {
    name = commandPath(sub);
    const spec = COMMANDS.find((c) => c.name === sub.name());
    if (spec) await load(sub, spec.load);
  });
  program.hook("preAction", (_root, action) => {
    name = commandPath(action);
  });

  try {
    await program.parseAsync(io.argv);
    return EXIT.OK;
  } catch (caught) {
    const g = globals ?? { ...early, color: true, file: DEFAULT_FILE };
    const debug = g.debug;
    if (caught instanceof CommanderError) {
      if (["commander.helpDisplayed", "commander.version", "commander.help"].includes(caught.code))
        return EXIT.OK;
      if (g.json) getReporter(g).failure(name, fail.usage(caught.message.replace(/^error: /, "")), debug);
      return EXIT.USAGE;
    }
    const err =
      abort.signal.aborted && !(caught instanceof PhpclusterError && caught.code !== "TIMEOUT")
        ? fail.cancelled()
        : caught;
    const error = err instanceof Error ? err : new Error(String(err));
    getReporter(g).failure(name, error, debug);
    return error instanceof PhpclusterError ? error.exitCode : EXIT.INTERNAL;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
