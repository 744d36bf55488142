import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = path.join(REPO, "bin", "phpcluster.js");

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI (`npm run build` first) as a user would: no TTY, CI set, no colour. */
export async function runCli(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {},
) {
  const result = await execa(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? REPO,
    env: { CI: "true", NO_COLOR: "1", ...opts.env },
    reject: false,
    timeout: opts.timeout ?? 60_000,
    stdin: "ignore",
  });
  return {
    exitCode: result.exitCode ?? -1,
    stdout: result.stdout,
    stderr: result.stderr,
  } satisfies CliResult;
}

/** A temporary directory, removed by the returned cleanup function. */
export function tempDir(prefix = "phpcluster-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every file under dir with its content and mode, to prove a command changed nothing. */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = `${st.mode.toString(8)}:${readFileSync(p, "utf8")}`;
    }
  };
  walk(dir);
  return out;
}

/**
 * What a `verify --json` run said, for a failed assertion's message: one line a check (its
 * timeline left out: thousands of numbers), or the output's tail when it is not that document.
 */
export function checksOf(stdout: string): string {
  try {
    type Checks = { name: string; ok: boolean; detail: string }[];
    // a pass carries the report as data; a failure in error.details
    const doc = JSON.parse(stdout) as {
      data?: { checks?: Checks };
      error?: { details?: { report?: { checks?: Checks } } };
    };
    const checks = doc.data?.checks ?? doc.error?.details?.report?.checks;
    if (checks) return checks.map((c) => `${c.ok ? "pass" : "FAIL"} ${c.name}: ${c.detail}`).join("\n");
  } catch {
    // not one JSON document
  }
  return stdout.slice(-3000);
}
