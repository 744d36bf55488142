/**
 * The native runtime's supervisor: one long-lived process per cluster that spawns and reaps its
 * services (supervisor.ts, run by main.ts), and what the native driver uses to reach it.
 */
export { type KillReport, killRecordedGroups } from "./cleanup.js";
export {
  connectSupervisor,
  type LaunchOptions,
  launchSupervisor,
  type RequestOptions,
  readSupervisorInfo,
  resolveSupervisorEntry,
  SupervisorClient,
  supervisorLogTail,
} from "./client.js";
export { SupervisorError } from "./error.js";
export type {
  ProcessRecord,
  ProcessState,
  ProcessStatus,
  ShutdownResponse,
  SignalResponse,
  StartRequest,
  StartResponse,
  StatusResponse,
  StopResponse,
  SupervisorInfo,
} from "./protocol.js";
export { readProcesses } from "./state.js";
