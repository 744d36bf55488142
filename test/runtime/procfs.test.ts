import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import {
  groupMembers,
  isAlive,
  isOurProcess,
  parseProcStat,
  readCmdline,
  readProcStat,
  startTimeToMs,
} from "../../src/runtime/native/procfs.js";

/** Fields 3..52 of /proc/PID/stat with a recognisable start time (field 22). */
function statTail(state: string, ppid: number, pgid: number, sid: number, startTime: number): string {
  const fields = [state, ppid, pgid, sid, 0, -1, 4194560, 100, 0, 0, 0, 1, 2, 0, 0, 20, 0, 1, 0, startTime];
  while (fields.length < 50) fields.push(0);
  return fields.join(" ");
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("parseProcStat", () => {
  it("splits at the last ')' so comm may contain spaces and parentheses", () => {
    const text = `4242 (my (odd) name) S) ${statTail("S", 17, 4242, 4240, 987654)}\n`;
    expect(parseProcStat(text)).toEqual({
      pid: 4242,
      comm: "my (odd) name) S",
      state: "S",
      ppid: 17,
      pgid: 4242,
      sid: 4240,
      startTime: 987654,
    });
  });

  it("reads a zombie's state", () => {
    expect(parseProcStat(`7 (apache2) ${statTail("Z", 1, 7, 7, 5)}`)?.state).toBe("Z");
  });

  it("rejects garbage", () => {
    expect(parseProcStat("")).toBeUndefined();
    expect(parseProcStat("12 no parens S 1 2 3")).toBeUndefined();
    expect(parseProcStat("12 (x) S 1")).toBeUndefined();
    expect(parseProcStat("x (y) S 1 2 3")).toBeUndefined();
  });
});

describe("/proc readers on live processes", () => {
  it("reads this process", () => {
    const stat = readProcStat(process.pid);
    expect(stat?.pid).toBe(process.pid);
    expect(stat?.ppid).toBe(process.ppid);
    expect(stat?.startTime).toBeGreaterThan(0);
    expect(isAlive(process.pid)).toBe(true);
    expect(readCmdline(process.pid)?.length).toBeGreaterThan(0);
    // start time maps to a wall-clock time in the past
    const started = startTimeToMs(stat?.startTime ?? 0);
    expect(started).toBeLessThanOrEqual(Date.now() + 2_000);
  });

  it("says no for pids that do not exist or are invalid", () => {
    for (const pid of [0, -1, 1.5, 2 ** 31]) {
      expect(readProcStat(pid)).toBeUndefined();
      expect(isAlive(pid)).toBe(false);
      expect(readCmdline(pid)).toBeUndefined();
      expect(groupMembers(pid)).toEqual([]);
    }
  });

  it("guards against pid reuse with the start time and a cmdline fragment", () => {
    const stat = readProcStat(process.pid);
    if (!stat) throw new Error("no /proc/self/stat");
    const argv0 = readCmdline(process.pid)?.[0] ?? "";
    expect(isOurProcess(process.pid, {})).toBe(true);
    expect(isOurProcess(process.pid, { startTime: stat.startTime })).toBe(true);
    expect(isOurProcess(process.pid, { startTime: stat.startTime + 1 })).toBe(false);
    expect(isOurProcess(process.pid, { startTime: stat.startTime, argvIncludes: argv0 })).toBe(true);
    expect(isOurProcess(process.pid, { argvIncludes: "no-such-fragment-in-argv-xyz" })).toBe(false);
  });
});

describe("zombies and groups", () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  });

  it("lists the live members of a process group", async () => {
    const child = spawn("sh", ["-c", "sleep 30 & sleep 30 & wait"], { detached: true, stdio: "ignore" });
    children.push(child);
    const pgid = child.pid ?? 0;
    const deadline = Date.now() + 5_000;
    while (groupMembers(pgid).length < 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    const members = groupMembers(pgid);
    expect(members).toHaveLength(3);
    expect(members).toContain(pgid);
    for (const pid of members) expect(readProcStat(pid)?.pgid).toBe(pgid);
  });

  it.skipIf(!hasCommand("perl"))("treats a zombie as dead although kill -0 succeeds", async () => {
    // perl forks a child that exits at once and only reaps it once its stdin closes.
    const script = '$|=1; my $p=fork(); if(!$p){exit 0} print "$p\\n"; my $x=<STDIN>; waitpid($p,0); exit 0;';
    const parent = spawn("perl", ["-e", script], { detached: true, stdio: ["pipe", "pipe", "ignore"] });
    children.push(parent);
    const zombie = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("perl printed no pid")), 5_000);
      parent.stdout?.once("data", (d: Buffer) => {
        clearTimeout(timer);
        resolve(Number(d.toString().trim()));
      });
    });
    const deadline = Date.now() + 5_000;
    while (readProcStat(zombie)?.state !== "Z" && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));

    expect(readProcStat(zombie)?.state).toBe("Z");
    expect(() => process.kill(zombie, 0)).not.toThrow(); // the pitfall: kill -0 says "alive"
    expect(isAlive(zombie)).toBe(false);
    expect(isOurProcess(zombie, { startTime: readProcStat(zombie)?.startTime })).toBe(false);
    expect(groupMembers(parent.pid ?? 0)).not.toContain(zombie);

    parent.stdin?.end(); // let perl reap it
    const gone = Date.now() + 5_000;
    while (readProcStat(zombie) && Date.now() < gone) await new Promise((r) => setTimeout(r, 10));
    expect(readProcStat(zombie)).toBeUndefined();
  });
});
