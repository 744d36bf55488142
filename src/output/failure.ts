import { PhpclusterError } from "../errors.js";
import type { Problem } from "./reporter.js";
import type { Style } from "./style.js";

interface IssueLike {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
  severity?: string;
}

function issuesOf(details: unknown): IssueLike[] {
  if (typeof details !== "object" || details === null) return [];
  const issues = (details as { issues?: unknown }).issues;
  return Array.isArray(issues) ? (issues as IssueLike[]) : [];
}

export function formatIssueLine(issue: IssueLike): string {
  return `${issue.file}:${issue.line}:${issue.col} ${issue.path || "(document)"}: ${issue.message}`;
}

/** The JSON `error` member of the envelope. */
export function toProblem(error: Error): Problem {
  if (error instanceof PhpclusterError) {
    return { code: error.code, message: error.message, hint: error.hint, details: error.details };
  }
  return { code: "INTERNAL", message: error.message, hint: "this is a bug in phpcluster; please report it" };
}

/** Human text of a failure, for stderr. */
export function formatFailure(error: Error, style: Style, debug: boolean): string {
  const lines: string[] = [];
  lines.push(`${style.err("✖")} ${error.message}`);
  for (const issue of issuesOf(error instanceof PhpclusterError ? error.details : undefined)) {
    lines.push(`  ${style.err("•")} ${formatIssueLine(issue)}`);
  }
  if (error instanceof PhpclusterError) {
    if (error.hint) lines.push(`  ${style.dim(`hint: ${error.hint}`)}`);
    if (debug && error.cause instanceof Error && error.cause.stack) lines.push(style.dim(error.cause.stack));
  } else {
    lines.push(`  ${style.dim("this is a bug in phpcluster; please report it")}`);
    if (error.stack) lines.push(style.dim(error.stack));
  }
  return lines.join("\n");
}
