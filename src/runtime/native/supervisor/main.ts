/**
 * Entry of the per-cluster supervisor: `node dist/runtime/native/supervisor/main.js <stateDir>`.
 * Started detached by `launchSupervisor` with stdout/stderr redirected to `<stateDir>/supervisor.log`.
 *
 * Exit codes: 0 after a shutdown, 1 on a start-up failure, 2 on bad usage, 3 if another supervisor
 * already runs for the state directory (a launcher that lost a race waits for that one instead).
 */
import path from "node:path";
import { LockHeldError } from "../../../files/lock.js";
import { SupervisorError } from "./error.js";
import { Supervisor } from "./supervisor.js";
import { errorMessage } from "./wait.js";

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_LOCKED = 3;

function log(line: string): void {
  try {
    process.stdout.write(`${new Date().toISOString()} [supervisor ${process.pid}] ${line}\n`);
  } catch {
    // the log is best effort
  }
}

async function main(): Promise<void> {
  const stateDir = process.argv[2];
  if (!stateDir || !path.isAbsolute(stateDir)) {
    process.stderr.write("usage: supervisor/main.js <absolute state directory>\n");
    process.exit(EXIT_USAGE);
  }

  const supervisor = new Supervisor(stateDir, { log, onExit: (code) => process.exit(code) });

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log(`received ${signal} again; still shutting down`);
      return;
    }
    signalled = true;
    log(`received ${signal}: stopping every process`);
    supervisor.shutdownAndExit().catch((err: unknown) => {
      log(`shutdown failed: ${errorMessage(err)}`);
      supervisor.close();
      process.exit(EXIT_FAILED);
    });
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // Detached, but a stray hang-up must not kill the owner of the cluster.
  process.on("SIGHUP", () => log("ignoring SIGHUP"));
  // Dying would orphan every service: log and keep serving.
  process.on("uncaughtException", (err) => log(`uncaught exception: ${err.stack ?? err.message}`));
  process.on("unhandledRejection", (reason) => log(`unhandled rejection: ${String(reason)}`));

  try {
    await supervisor.listen();
  } catch (err) {
    if (err instanceof LockHeldError) {
      const who = err.owner.pid > 0 ? `another supervisor (pid ${err.owner.pid})` : "another supervisor";
      log(`cannot start: ${who} already runs for ${supervisor.stateDir}`);
      process.exit(EXIT_LOCKED);
    }
    log(`cannot start: ${err instanceof SupervisorError ? err.reason : errorMessage(err)}`);
    process.exit(EXIT_FAILED);
  }
  log(`ready (node ${process.version}, pid ${process.pid})`);
}

void main();
