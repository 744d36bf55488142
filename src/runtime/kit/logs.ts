import { open, readFile, stat } from "node:fs/promises";
import { createInterface } from "node:readline";
import { execa } from "execa";
import type { RuntimeDriver } from "../driver.js";
import { sleep } from "./wait.js";

/** The last `count` non-empty lines of a text (carriage returns removed). */
export function lastLines(text: string, count: number): string[] {
  if (count <= 0) return [];
  return text
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l) => l.trim() !== "")
    .slice(-count);
}

/** The last lines a node logged, for an error message (access logs left out). */
export async function logTail(driver: RuntimeDriver, node: string, lines = 15): Promise<string[]> {
  try {
    const chunks = (await driver.logs({ node, tail: lines })).filter((c) => !c.file.endsWith("access.log"));
    const many = chunks.length > 1;
    const out = chunks.flatMap((c) => c.lines.map((l) => (many ? `${c.file.split("/").pop()}: ${l}` : l)));
    return out.slice(-lines);
  } catch {
    return [];
  }
}

/** Where a node's log can be followed: a file that grows, or a command that streams it. */
export type LogSource =
  | { node: string; kind: "file"; file: string }
  | { node: string; kind: "command"; file: string; args: string[]; env: NodeJS.ProcessEnv };

export interface FollowOptions {
  /** Lines of each source printed first (its last ones). Commands are given their own --tail. */
  tail: number;
  signal: AbortSignal;
  onLine(node: string, line: string): void;
  /** How often files are looked at. */
  pollMs?: number;
}

/**
 * Follow every source until the signal aborts (or every command ended): each new line goes to
 * `onLine` with its node, as it is written. A file that shrinks (rotated, truncated) is read again
 * from its start.
 */
export async function followLogs(sources: LogSource[], opts: FollowOptions): Promise<void> {
  if (opts.signal.aborted) return;
  const files = sources.filter((s) => s.kind === "file");
  const commands = sources.filter((s) => s.kind === "command");
  await Promise.all([followFiles(files, opts), ...commands.map((s) => followCommand(s, opts))]);
}

async function followFiles(sources: { node: string; file: string }[], opts: FollowOptions): Promise<void> {
  if (sources.length === 0) return;
  const state = await Promise.all(
    sources.map(async (s) => {
      let text = "";
      try {
        text = await readFile(s.file, "utf8");
      } catch {}
      for (const line of lastLines(text, opts.tail)) opts.onLine(s.node, line);
      return { ...s, offset: Buffer.byteLength(text), partial: "" };
    }),
  );
  const pollMs = opts.pollMs ?? 200;
  while (!opts.signal.aborted) {
    await sleep(pollMs, opts.signal).catch(() => undefined);
    if (opts.signal.aborted) return;
    for (const s of state) {
      let size: number;
      try {
        size = (await stat(s.file)).size;
      } catch {
        continue; // not there (yet): looked at again next time
      }
      if (size < s.offset) {
        s.offset = 0;
        s.partial = "";
      }
      if (size === s.offset) continue;
      const handle = await open(s.file, "r");
      try {
        const buffer = Buffer.alloc(size - s.offset);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, s.offset);
        s.offset += bytesRead;
        const lines = (s.partial + buffer.subarray(0, bytesRead).toString("utf8")).split("\n");
        s.partial = lines.pop() ?? "";
        for (const line of lines) if (line.trim() !== "") opts.onLine(s.node, line.replace(/\r$/, ""));
      } finally {
        await handle.close();
      }
    }
  }
}

async function followCommand(
  s: { node: string; file: string; args: string[]; env: NodeJS.ProcessEnv },
  opts: FollowOptions,
): Promise<void> {
  const child = execa(s.file, s.args, {
    env: s.env,
    extendEnv: false,
    stdin: "ignore",
    buffer: false,
    reject: false,
    cleanup: false, // see compose/exec.ts: the cancel signal stops it, not execa's exit hook
    cancelSignal: opts.signal,
    forceKillAfterDelay: 2000,
  });
  const read = (stream: NodeJS.ReadableStream | null | undefined) =>
    new Promise<void>((resolve) => {
      if (!stream) return resolve();
      const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
      lines.on("line", (line) => {
        if (line.trim() !== "") opts.onLine(s.node, line);
      });
      lines.on("close", () => resolve());
    });
  await Promise.all([read(child.stdout), read(child.stderr), child.catch(() => undefined)]);
}
