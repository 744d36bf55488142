import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { COMMANDS } from "./commands/index.js";
import type { Context } from "./context.js";
import { CancelledError, EXIT, PhpclusterError, UsageError } from "./errors.js";
import { selectReporter } from "./output/index.js";

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
}

/** Build the program, run it, and return the exit code. The only place that decides exit codes. */
export async function runCli(io: CliIO): Promise<number> {
  const args = io.argv.slice(2);
  const json = args.includes("--json");
  const debug = args.includes("--debug") || io.env.PHPCLUSTER_DEBUG === "1";
  let commandName = args.find((a) => !a.startsWith("-")) ?? "phpcluster";
  let ctx: Context | undefined;
  // The first Ctrl-C (or SIGTERM) aborts: long operations stop what they started and the exit
  // code is 130. A second one exits at once. (`on`, not `once`: with no listener left, execa's
  // exit hook would re-raise the signal and end the process before the cleanup.)
  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) process.exit(EXIT.CANCELLED);
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const getCtx = (): Context => {
    ctx ??= {
      reporter: selectReporter({
        json,
        color: !args.includes("--no-color"),
        env: io.env,
        streams: { stdout: io.stdout, stderr: io.stderr },
        isTTY: io.isTTY,
      }),
      cwd: io.cwd,
      env: io.env,
      debug,
      signal: abort.signal,
    };
    return ctx;
  };

  const program = new Command("phpcluster")
    .description(
      "Provision a load-balanced PHP session cluster from one topology file, and prove that sessions survive",
    )
    .version(pkg.version)
    .option("--no-color", "no colours (NO_COLOR is honoured too)")
    .option("--debug", "show stack traces of errors")
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .hook("preAction", (_root, action) => {
      commandName =
        action.parent && action.parent !== program
          ? `${action.parent.name()} ${action.name()}`
          : action.name();
    });
  for (const make of COMMANDS) {
    const sub = make(getCtx);
    // addCommand does not pass exitOverride and the output settings down: copy them to every level
    const inherit = (cmd: Command, parent: Command) => {
      cmd
        .option("--no-color", "no colours (NO_COLOR is honoured too)")
        .option("--debug", "show stack traces of errors");
      cmd.copyInheritedSettings(parent);
      for (const child of cmd.commands) inherit(child, cmd);
    };
    inherit(sub, program);
    program.addCommand(sub);
  }

  try {
    await program.parseAsync(io.argv);
    return EXIT.OK;
  } catch (caught) {
    const err = abort.signal.aborted && !(caught instanceof PhpclusterError) ? new CancelledError() : caught;
    if (err instanceof CommanderError) {
      if (["commander.helpDisplayed", "commander.version", "commander.help"].includes(err.code))
        return EXIT.OK;
      if (json)
        getCtx().reporter.failure(commandName, new UsageError(err.message.replace(/^error: /, "")), debug);
      return EXIT.USAGE;
    }
    const error = err instanceof Error ? err : new Error(String(err));
    getCtx().reporter.failure(commandName, error, debug);
    return error instanceof PhpclusterError ? error.exitCode : EXIT.INTERNAL;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
