import { PhpclusterError } from "../../../errors.js";

/**
 * A supervisor operation failed, timed out or could not reach the supervisor. The message names
 * the operation and the state directory; `reason` is the bare cause, which is what the supervisor
 * answers on the wire (`{ ok: false, error: reason }`).
 */
export class SupervisorError extends PhpclusterError {
  readonly op: string;
  readonly stateDir: string;
  readonly reason: string;

  constructor(
    op: string,
    stateDir: string,
    reason: string,
    options: { hint?: string | undefined; cause?: unknown } = {},
  ) {
    super("SUPERVISOR", `supervisor ${op} (${stateDir}): ${reason}`, {
      hint: options.hint,
      cause: options.cause,
      details: { op, stateDir },
    });
    this.name = "SupervisorError";
    this.op = op;
    this.stateDir = stateDir;
    this.reason = reason;
  }
}
