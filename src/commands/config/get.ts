import type { Command } from "commander";
import type { App } from "../../cli.js";
import { nodeOf } from "../../runtime/kit/index.js";
import { loadFrom } from "../../runtime/place.js";
import { configEntry } from "../../topology/index.js";
import { formatEntry, NODE_OPTION } from "./format.js";

export function configure(cmd: Command, app: App): void {
  cmd
    .argument("<key>", "e.g. balancer.port or php.memory_limit")
    .option(...NODE_OPTION)
    .action(async (key: string, opts: { node?: string }, command: Command) => {
      const ctx = app.context(command);
      const loaded = await loadFrom(ctx);
      if (opts.node) nodeOf(loaded.topology, opts.node, "app");
      ctx.reporter.result(ctx.command, configEntry(loaded.text, key, opts.node), formatEntry);
    });
}
