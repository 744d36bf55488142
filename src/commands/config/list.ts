import type { Command } from "commander";
import type { App } from "../../cli.js";
import { nodeOf } from "../../runtime/kit/index.js";
import { loadFrom } from "../../runtime/place.js";
import { configEntries } from "../../topology/index.js";
import { formatList, NODE_OPTION } from "./format.js";

export function configure(cmd: Command, app: App): void {
  cmd.option(...NODE_OPTION).action(async (opts: { node?: string }, command: Command) => {
    const ctx = app.context(command);
    const loaded = await loadFrom(ctx);
    if (opts.node) nodeOf(loaded.topology, opts.node, "app");
    ctx.reporter.result(ctx.command, { entries: configEntries(loaded.text, opts.node) }, formatList);
  });
}
