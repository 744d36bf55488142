/**
 * The supervisor's protocol: newline-delimited JSON over its Unix socket, one response line per
 * request line. Every message is a zod schema and its TypeScript type is inferred from it: the
 * supervisor validates each request ({@link parseRequest}), the client each response
 * ({@link parseResponse}), and processes.json holds {@link ProcessRecord}s.
 */
import { z } from "zod";
import { isSignalName } from "./groups.js";

/** Grace period of a stop before SIGKILL, when the request gives none. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** Longest accepted process name. */
export const NAME_MAX = 200;

// ---------------------------------------------------------------------------------------------
// Field schemas. Their messages name the field: a failed request is answered with
// `<op>: <message>; <message>` (see formatRequestIssues).

/** A string that must be present and non-empty: "`field` is required" / "must be a non-empty string". */
function requiredString(field: string) {
  return z
    .string({
      error: (iss) =>
        iss.input === undefined ? `${field} is required` : `${field} must be a non-empty string`,
    })
    .min(1, `${field} is required`);
}

const processName = z
  .string({ error: "name must be a non-empty string" })
  .min(1, "name must be a non-empty string")
  .max(NAME_MAX, `name must be at most ${NAME_MAX} characters`);

/** A signal name known to this system (os.constants.signals). */
const signalName = z.custom<NodeJS.Signals>(isSignalName, {
  error: (iss) =>
    iss.input === undefined ? "signal is required" : `unknown signal ${JSON.stringify(iss.input)}`,
});

const timeoutMs = z.number({ error: "timeoutMs must be >= 0" }).min(0, "timeoutMs must be >= 0");

const ARGS = "args must be an array of strings";
const ENV = "env must be an object of strings (the complete environment)";
const ORDER = "order must be an array of names";

// ---------------------------------------------------------------------------------------------
// Requests

export const startRequestSchema = z.object({
  op: z.literal("start"),
  name: processName,
  command: requiredString("command"),
  args: z.array(z.string({ error: ARGS }), { error: ARGS }).optional(),
  /** The complete environment of the child (nothing is inherited). */
  env: z.record(z.string(), z.string({ error: ENV }), { error: ENV }),
  /** Working directory (default: the state directory); relative paths resolve against it. */
  cwd: z.string({ error: "cwd must be a string" }).optional(),
  /** stdout and stderr are appended here; relative paths resolve against the state directory. */
  logFile: requiredString("logFile"),
});

export const stopRequestSchema = z.object({
  op: z.literal("stop"),
  name: processName,
  /** Default SIGTERM. */
  signal: signalName.optional(),
  /** Grace period before SIGKILL (default {@link DEFAULT_STOP_TIMEOUT_MS}). */
  timeoutMs: timeoutMs.optional(),
  /** Signal the leader only (it stops its children itself, e.g. the memcached launcher); the group is still waited for and killed after the grace. */
  leaderOnly: z.boolean().optional(),
});

export const signalRequestSchema = z.object({
  op: z.literal("signal"),
  name: processName,
  signal: signalName,
});

export const statusRequestSchema = z.object({
  op: z.literal("status"),
});

export const shutdownRequestSchema = z.object({
  op: z.literal("shutdown"),
  /** Stopped first, one by one, in this order; the rest in parallel. */
  order: z.array(z.string({ error: ORDER }), { error: ORDER }).optional(),
  /** Per-process grace period before SIGKILL. */
  timeoutMs: timeoutMs.optional(),
});

export const requestSchema = z.discriminatedUnion(
  "op",
  [startRequestSchema, stopRequestSchema, signalRequestSchema, statusRequestSchema, shutdownRequestSchema],
  {
    error: (iss) =>
      iss.code === "invalid_union"
        ? `unknown op ${JSON.stringify((iss.input as { op?: unknown } | undefined)?.op)}`
        : "request must be a JSON object",
  },
);

export type StartRequest = z.infer<typeof startRequestSchema>;
export type StopRequest = z.infer<typeof stopRequestSchema>;
export type SignalRequest = z.infer<typeof signalRequestSchema>;
export type StatusRequest = z.infer<typeof statusRequestSchema>;
export type ShutdownRequest = z.infer<typeof shutdownRequestSchema>;
export type SupervisorRequest = z.infer<typeof requestSchema>;
export type SupervisorOp = SupervisorRequest["op"];

/** A decoded request line, validated: the request, or the message to answer with. */
export function parseRequest(
  input: unknown,
): { ok: true; request: SupervisorRequest } | { ok: false; error: string } {
  const parsed = requestSchema.safeParse(input, {
    // Only for issues the schemas above do not word themselves.
    error: (iss) => `${iss.path?.length ? iss.path.join(".") : "request"} is invalid (${iss.code})`,
  });
  if (parsed.success) return { ok: true, request: parsed.data };
  return { ok: false, error: formatRequestIssues(input, parsed.error.issues) };
}

/**
 * `start: name must be a non-empty string; env must be an object of strings (…)`: the op (when the
 * request has a known one) and each distinct message once.
 */
function formatRequestIssues(input: unknown, issues: readonly z.core.$ZodIssue[]): string {
  const messages = [...new Set(issues.map((i) => i.message))];
  const op = (input as { op?: unknown } | null | undefined)?.op;
  const known = typeof op === "string" && requestSchema.def.options.some((o) => o.shape.op.value === op);
  return known ? `${op}: ${messages.join("; ")}` : messages.join("; ");
}

// ---------------------------------------------------------------------------------------------
// Records (processes.json, and the status response)

export const processStateSchema = z.enum(["running", "exited"]);
export type ProcessState = z.infer<typeof processStateSchema>;

const pid = z.number().int().positive();

export const processRecordSchema = z.object({
  name: z.string().min(1),
  pid,
  /** Always equal to pid: every service is spawned as the leader of its own process group. */
  pgid: z.number().int().min(2),
  /** /proc start time (clock ticks after boot): the PID-reuse guard. */
  startTime: z.number().int().min(0),
  argv: z.array(z.string()),
  cwd: z.string(),
  state: processStateSchema,
  /** ISO timestamps. */
  startedAt: z.string(),
  exitedAt: z.string().optional(),
  exitCode: z.number().int().nullable().optional(),
  signal: z.string().nullable().optional(),
  logFile: z.string(),
  /** Found running by a later supervisor (the one that spawned it died); watched by polling. */
  adopted: z.boolean().optional(),
});
export type ProcessRecord = z.infer<typeof processRecordSchema>;

export const processStatusSchema = processRecordSchema.extend({
  /** The leader is alive (not a zombie) and still the process that was started. */
  alive: z.boolean(),
  /** Live members of its process group (e.g. Apache workers left behind by a dead parent). */
  liveMembers: z.array(pid),
});
export type ProcessStatus = z.infer<typeof processStatusSchema>;

/** supervisor.json: present while a supervisor serves the state directory. */
export const supervisorInfoSchema = z.object({
  pid,
  startTime: z.number().int().min(0),
  socketPath: z.string().min(1),
  stateDir: z.string(),
  startedAt: z.string(),
});
export type SupervisorInfo = z.infer<typeof supervisorInfoSchema>;

// ---------------------------------------------------------------------------------------------
// Responses

export const errorResponseSchema = z.object({ ok: z.literal(false), error: z.string() });

export const startResponseSchema = z.object({
  ok: z.literal(true),
  pid,
  pgid: pid,
  startTime: z.number().int().min(0),
});

export const stopResponseSchema = z.object({
  ok: z.literal(true),
  alreadyStopped: z.boolean(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  /** SIGKILL was needed after the grace period. */
  forced: z.boolean(),
  /** Group members that outlived their leader and were killed now. */
  strays: z.number().int().min(0).optional(),
});

export const signalResponseSchema = z.object({ ok: z.literal(true), pid });

export const statusResponseSchema = z.object({
  ok: z.literal(true),
  supervisor: supervisorInfoSchema,
  /** A shutdown is in progress: the supervisor is about to exit. */
  shuttingDown: z.boolean(),
  processes: z.record(z.string(), processStatusSchema),
});

export const shutdownResponseSchema = z.object({
  ok: z.literal(true),
  stopped: z.record(z.string(), stopResponseSchema),
  /** Processes that could not be stopped (the supervisor exits anyway). */
  errors: z.record(z.string(), z.string()),
});

export type ErrorResponse = z.infer<typeof errorResponseSchema>;
export type StartResponse = z.infer<typeof startResponseSchema>;
export type StopResponse = z.infer<typeof stopResponseSchema>;
export type SignalResponse = z.infer<typeof signalResponseSchema>;
export type StatusResponse = z.infer<typeof statusResponseSchema>;
export type ShutdownResponse = z.infer<typeof shutdownResponseSchema>;
export type SupervisorResponse =
  | ErrorResponse
  | StartResponse
  | StopResponse
  | SignalResponse
  | StatusResponse
  | ShutdownResponse;

/** The success response of each op. */
export const responseSchemas = {
  start: startResponseSchema,
  stop: stopResponseSchema,
  signal: signalResponseSchema,
  status: statusResponseSchema,
  shutdown: shutdownResponseSchema,
} as const satisfies Record<SupervisorOp, z.ZodType>;

export type ResponseMap = { [O in SupervisorOp]: z.infer<(typeof responseSchemas)[O]> };

/**
 * A decoded response line to a request of `op`, validated: the success response, `{ ok: false }`
 * with the supervisor's message, or undefined and the issues when it is neither.
 */
export function parseResponse<O extends SupervisorOp>(
  op: O,
  input: unknown,
): { valid: true; response: ResponseMap[O] | ErrorResponse } | { valid: false; issues: string } {
  const schema = z.discriminatedUnion("ok", [errorResponseSchema, responseSchemas[op]]);
  const parsed = schema.safeParse(input);
  if (parsed.success) return { valid: true, response: parsed.data as ResponseMap[O] | ErrorResponse };
  return { valid: false, issues: formatIssues(parsed.error.issues) };
}

/** `path: message; path: message` (for messages that are not ours to word, such as a bad response). */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message))
    .join("; ");
}
