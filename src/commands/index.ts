import type { Command } from "commander";
import type { Context } from "../context.js";
import { initCommand } from "./init.js";
import { renderCommand } from "./render.js";
import { validateCommand } from "./validate.js";

export const COMMANDS: ((getCtx: () => Context) => Command)[] = [initCommand, validateCommand, renderCommand];
