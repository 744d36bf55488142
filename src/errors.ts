/**
 * Typed errors. Core code throws these; only `src/cli.ts` turns them into an exit code.
 * The exit codes are part of the public contract and documented in the README.
 */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  TOPOLOGY: 3,
  RUNTIME_UNAVAILABLE: 4,
  RUNTIME_FAILED: 5,
  VERIFY_FAILED: 6,
  NOT_SUPPORTED: 7,
  CONFLICT: 8,
  CANCELLED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class PhpclusterError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly details: unknown;

  constructor(
    code: string,
    message: string,
    options: { exitCode: ExitCode; hint?: string; details?: unknown; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options.exitCode;
    this.hint = options.hint;
    this.details = options.details;
  }
}

export class UsageError extends PhpclusterError {
  constructor(message: string, hint?: string) {
    super("USAGE", message, { exitCode: EXIT.USAGE, hint });
  }
}

/** A file could not be written or read for a reason that is not the topology's content. */
export class FileError extends PhpclusterError {
  constructor(message: string, cause?: unknown) {
    super("FILE_ERROR", message, { exitCode: EXIT.RUNTIME_FAILED, cause });
  }
}

/** A runtime or a program it needs is not available here. */
export class RuntimeUnavailableError extends PhpclusterError {
  constructor(
    message: string,
    hint = "run `phpcluster doctor` to see what is missing and how to install it",
    details?: unknown,
  ) {
    super("RUNTIME_UNAVAILABLE", message, { exitCode: EXIT.RUNTIME_UNAVAILABLE, hint, details });
  }
}

/** A runtime operation failed: a node did not start, did not become healthy, a command failed. */
export class RuntimeError extends PhpclusterError {
  constructor(
    code: string,
    message: string,
    options: { hint?: string; details?: unknown; cause?: unknown } = {},
  ) {
    super(code, message, { exitCode: EXIT.RUNTIME_FAILED, ...options });
  }
}

/** The runtime cannot do this (compose's ErrNotImplemented). */
export class NotSupportedError extends PhpclusterError {
  constructor(runtime: string, operation: string) {
    super("NOT_SUPPORTED", `the ${runtime} runtime does not support ${operation}`, {
      exitCode: EXIT.NOT_SUPPORTED,
    });
  }
}

/** The request conflicts with the current state: running already, locked, a port in use. */
export class ConflictError extends PhpclusterError {
  constructor(code: string, message: string, hint?: string, details?: unknown) {
    super(code, message, { exitCode: EXIT.CONFLICT, hint, details });
  }
}

export class CancelledError extends PhpclusterError {
  constructor(message = "interrupted; stopped what had been started") {
    super("CANCELLED", message, { exitCode: EXIT.CANCELLED });
  }
}

/** A verification did not pass: the report says which check. */
export class VerifyFailedError extends PhpclusterError {
  constructor(message: string, details?: unknown) {
    super("VERIFY_FAILED", message, { exitCode: EXIT.VERIFY_FAILED, details });
  }
}
