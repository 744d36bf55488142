import type { Command } from "commander";
import type { Context } from "../context.js";
import { configCommand } from "./config.js";
import { createCommand } from "./create.js";
import { destroyCommand } from "./destroy.js";
import { doctorCommand } from "./doctor.js";
import { failoverCommand } from "./failover.js";
import { initCommand } from "./init.js";
import { logsCommand } from "./logs.js";
import { renderCommand } from "./render.js";
import { restartCommand } from "./restart.js";
import { statusCommand } from "./status.js";
import { validateCommand } from "./validate.js";
import { verifyCommand } from "./verify.js";

export const COMMANDS: ((getCtx: () => Context) => Command)[] = [
  initCommand,
  validateCommand,
  renderCommand,
  createCommand,
  statusCommand,
  configCommand,
  restartCommand,
  failoverCommand,
  verifyCommand,
  logsCommand,
  destroyCommand,
  doctorCommand,
];
