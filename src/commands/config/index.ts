import type { Command } from "commander";
import type { App } from "../../cli.js";
import { examples } from "../common.js";
import * as get from "./get.js";
import * as list from "./list.js";
import * as set from "./set.js";
import * as unset from "./unset.js";

/** The `config` group: no options of its own (the global ones work at every level). */
export function configure(cmd: Command, app: App): void {
  cmd
    .description(
      "read and edit the topology file (comments kept) and re-render; php.<directive> keys are php.ini",
    )
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
  get.configure(app.subcommand(cmd, "get", "print one key's value (and whether it is the default)"), app);
  set.configure(
    app.subcommand(
      cmd,
      "set",
      "set KEY=VALUE pairs in the topology, validate, re-render; --apply restarts what the change needs",
    ),
    app,
  );
  unset.configure(
    app.subcommand(cmd, "unset", "remove keys from the topology (their defaults apply again)"),
    app,
  );
  list.configure(app.subcommand(cmd, "list", "every key with its value and whether the file sets it"), app);
}
