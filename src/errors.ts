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
