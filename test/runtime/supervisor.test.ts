/**
 * The per-cluster supervisor with real processes (sleep, sh): spawning, reaping, group stops,
 * SIGKILL after a grace period, shutdown, and the client's cleanup when the supervisor is gone.
 * Every wait is bounded; every process group and supervisor started here is killed afterwards.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { groupMembers, isAlive, readCmdline, readProcStat } from "../../src/runtime/native/procfs.js";
import {
  connectSupervisor,
  killRecordedGroups,
  launchSupervisor,
  type ProcessRecord,
  readProcesses,
  resolveSupervisorEntry,
  SupervisorClient,
  SupervisorError,
} from "../../src/runtime/native/supervisor/index.js";
import {
  socketPathFor,
  supervisorPaths,
  writeJsonFileSync,
} from "../../src/runtime/native/supervisor/state.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const ENV = { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin" };
const MULTI = "sleep 30 & sleep 30 & wait";

let entry = "";
let buildDir: string | undefined;
const stateDirs: string[] = [];
const groups = new Set<number>();
const supervisors = new Set<number>();

/** The sources the supervisor's entry is built from (relative to src/, without .ts). */
const ENTRY_SOURCES = [
  ...fs
    .readdirSync(path.join(REPO, "src/runtime/native/supervisor"))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => `runtime/native/supervisor/${f.slice(0, -3)}`),
  "runtime/native/procfs",
  "files/lock",
  "files/write",
  "errors",
];

/**
 * dist/…/supervisor/main.js when it is at least as new as the sources it is built from; otherwise
 * compile just the entry and what it imports into a temp dir (others' files may be mid-edit).
 */
async function freshEntry(): Promise<string> {
  const fresh = ENTRY_SOURCES.every((name) => {
    const built = fs.statSync(path.join(REPO, "dist", `${name}.js`), { throwIfNoEntry: false });
    const src = fs.statSync(path.join(REPO, "src", `${name}.ts`));
    return built !== undefined && built.mtimeMs >= src.mtimeMs;
  });
  if (fresh) return path.join(REPO, "dist/runtime/native/supervisor/main.js");
  buildDir = fs.mkdtempSync(path.join(os.tmpdir(), "phpcluster-supbuild-"));
  const tsc = path.join(REPO, "node_modules/typescript/bin/tsc");
  await execa(
    process.execPath,
    [
      tsc,
      "--outDir",
      buildDir,
      "--rootDir",
      path.join(REPO, "src"),
      "--target",
      "ES2022",
      "--module",
      "NodeNext",
      "--moduleResolution",
      "NodeNext",
      "--types",
      "node",
      "--strict",
      "--esModuleInterop",
      "--skipLibCheck",
      path.join(REPO, "src/runtime/native/supervisor/main.ts"),
    ],
    { cwd: REPO, timeout: 120_000 },
  );
  fs.writeFileSync(path.join(buildDir, "package.json"), '{ "type": "module" }\n');
  // the entry imports zod and write-file-atomic: resolve them from the checkout
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(buildDir, "node_modules"));
  return path.join(buildDir, "runtime/native/supervisor/main.js");
}

function newStateDir(prefix = "phpcluster-sup-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  stateDirs.push(dir);
  return dir;
}

async function launch(dir: string): Promise<SupervisorClient> {
  const client = await launchSupervisor(dir, { entry, timeoutMs: 15_000 });
  supervisors.add(client.pid);
  return client;
}

async function start(client: SupervisorClient, name: string, script: string) {
  const res = await client.start({
    name,
    command: "sh",
    args: ["-c", script],
    env: ENV,
    logFile: `logs/${name}.log`,
  });
  groups.add(res.pgid);
  return res;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Raw lines over one connection to a supervisor socket, one answer line per request line: what a
 * client that does not go through SupervisorClient gets. Bounded.
 */
function exchange(socketPath: string, lines: string[], timeoutMs = 5_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const answers: unknown[] = [];
    let buffer = "";
    const sock = net.createConnection(socketPath);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${answers.length} of ${lines.length} answers within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(lines.map((l) => `${l}\n`).join("")));
    sock.on("data", (chunk: string) => {
      buffer += chunk;
      for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
        answers.push(JSON.parse(buffer.slice(0, i)));
        buffer = buffer.slice(i + 1);
      }
      if (answers.length >= lines.length) {
        clearTimeout(timer);
        sock.destroy();
        resolve(answers);
      }
    });
    sock.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // already gone
  }
}

beforeAll(async () => {
  entry = await freshEntry();
});

afterEach(async () => {
  // Shut live supervisors down first: they reap the children they stop (no zombies left behind).
  for (const dir of stateDirs) {
    const client = await connectSupervisor(dir, { timeoutMs: 2_000 }).catch(() => undefined);
    await client?.shutdown({ timeoutMs: 1_000, requestTimeoutMs: 10_000 }).catch(() => undefined);
  }
  for (const pgid of groups) killGroup(pgid);
  groups.clear();
  for (const pid of supervisors) {
    const argv = readCmdline(pid)?.join(" ") ?? "";
    if (isAlive(pid) && argv.includes("supervisor/main")) process.kill(pid, "SIGKILL");
  }
  supervisors.clear();
  for (const dir of stateDirs.splice(0)) {
    fs.rmSync(socketPathFor(dir), { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

afterAll(() => {
  if (buildDir) fs.rmSync(buildDir, { recursive: true, force: true });
});

describe("supervisor", () => {
  it("finds its entry in dist", () => {
    expect(fs.existsSync(resolveSupervisorEntry())).toBe(true);
  });

  it("starts a process in its own group, with exactly the given environment", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const info = JSON.parse(fs.readFileSync(path.join(dir, "supervisor.json"), "utf8"));
    expect(info).toMatchObject({ pid: client.pid, socketPath: path.join(dir, "supervisor.sock") });
    expect(fs.statSync(info.socketPath).mode & 0o777).toBe(0o600);

    const res = await client.start({
      name: "sleeper",
      command: "sleep",
      args: ["30"],
      env: ENV,
      logFile: "l/s.log",
    });
    groups.add(res.pgid);
    expect(res.pgid).toBe(res.pid);
    expect(readProcStat(res.pid)?.pgid).toBe(res.pid);
    expect(readProcStat(res.pid)?.ppid).toBe(client.pid); // the supervisor is the parent: it reaps

    const status = await client.status();
    expect(status.processes.sleeper).toMatchObject({
      name: "sleeper",
      pid: res.pid,
      pgid: res.pid,
      state: "running",
      alive: true,
      argv: ["sleep", "30"],
      startTime: readProcStat(res.pid)?.startTime,
      logFile: path.join(dir, "l/s.log"),
    });
    expect(readProcesses(dir).sleeper).toMatchObject({
      state: "running",
      alive: true,
      liveMembers: [res.pid],
    });

    await expect(
      client.start({ name: "sleeper", command: "sleep", args: ["30"], env: ENV, logFile: "x.log" }),
    ).rejects.toThrow(/already running/);

    // the env is exactly what was passed: nothing inherited from the supervisor
    await start(client, "env", 'echo "FOO=$FOO"; printenv HOME || echo no-HOME');
    await waitFor("env to exit", () => readProcesses(dir).env?.state === "exited");
    expect(fs.readFileSync(path.join(dir, "logs/env.log"), "utf8")).toBe("FOO=\nno-HOME\n");
    const withFoo = await client.start({
      name: "env",
      command: "sh",
      args: ["-c", 'echo "FOO=$FOO"'],
      env: { ...ENV, FOO: "bar" },
      logFile: "logs/env.log", // appended
    });
    groups.add(withFoo.pgid);
    await waitFor("env to exit again", () => readProcesses(dir).env?.state === "exited");
    expect(fs.readFileSync(path.join(dir, "logs/env.log"), "utf8")).toBe("FOO=\nno-HOME\nFOO=bar\n");
    expect(readProcesses(dir).env).toMatchObject({ exitCode: 0, signal: null, alive: false });
  });

  it("reaps a group killed from outside and records the signal at once", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const { pgid, pid } = await start(client, "group", MULTI);
    await waitFor("3 group members", () => groupMembers(pgid).length === 3);

    process.kill(-pgid, "SIGKILL");
    await waitFor("processes.json to say exited", () => readProcesses(dir).group?.state === "exited", 2_000);

    // the signal is only known to the parent that reaped the child (polling would record null)
    const rec = readProcesses(dir).group;
    expect(rec).toMatchObject({ state: "exited", signal: "SIGKILL", exitCode: null, alive: false });
    expect(rec?.adopted).toBeUndefined();
    expect(Number.isNaN(Date.parse(rec?.exitedAt ?? ""))).toBe(false);
    expect(readProcStat(pid)).toBeUndefined(); // reaped: not even a zombie
    expect(groupMembers(pgid)).toEqual([]);
    expect((await client.status()).processes.group).toMatchObject({
      state: "exited",
      signal: "SIGKILL",
      liveMembers: [],
    });
  });

  it("stops a multi-member group completely", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const { pgid } = await start(client, "group", MULTI);
    await waitFor("3 group members", () => groupMembers(pgid).length === 3);
    const members = groupMembers(pgid);

    const res = await client.stop("group", { timeoutMs: 5_000 });
    expect(res).toMatchObject({ ok: true, alreadyStopped: false, forced: false, signal: "SIGTERM" });
    expect(groupMembers(pgid)).toEqual([]);
    for (const m of members) expect(isAlive(m)).toBe(false);
    expect(readProcStat(pgid)).toBeUndefined();
    expect(readProcesses(dir).group).toMatchObject({ state: "exited", signal: "SIGTERM" });

    // stopping again, or an unknown name, is fine
    expect(await client.stop("group")).toMatchObject({ ok: true, alreadyStopped: true, signal: "SIGTERM" });
    expect(await client.stop("nope")).toMatchObject({ ok: true, alreadyStopped: true });
  });

  it("SIGKILLs a group that ignores SIGTERM after the timeout", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    // the shell notes every SIGTERM it gets and carries on (its short sleeps die and are replaced)
    const { pgid } = await start(
      client,
      "stubborn",
      'trap "echo got-term" TERM; echo ready; while :; do sleep 0.1; done',
    );
    const log = path.join(dir, "logs", "stubborn.log");
    await waitFor(
      "the trap in place",
      () => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("ready"),
    );

    const res = await client.stop("stubborn", { timeoutMs: 500 });
    expect(res).toMatchObject({ ok: true, alreadyStopped: false, forced: true, signal: "SIGKILL" });
    // the grace period was given: SIGTERM first, and the group was still alive to note it
    expect(fs.readFileSync(log, "utf8")).toContain("got-term");
    expect(groupMembers(pgid)).toEqual([]);
    expect(readProcStat(pgid)).toBeUndefined(); // the leader was reaped
    // the reaper recorded the SIGKILL (a TERM that had worked would say SIGTERM)
    expect(readProcesses(dir).stubborn).toMatchObject({
      state: "exited",
      signal: "SIGKILL",
      exitCode: null,
      alive: false,
      liveMembers: [],
    });
  });

  it("kills what is left of a group whose leader alone was killed", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const { pgid, pid } = await start(client, "parent", MULTI);
    await waitFor("3 group members", () => groupMembers(pgid).length === 3);

    process.kill(pid, "SIGKILL"); // parent only: the "workers" keep running
    await waitFor("leader exit", () => readProcesses(dir).parent?.state === "exited");
    expect(groupMembers(pgid)).toHaveLength(2);
    expect((await client.status()).processes.parent).toMatchObject({
      alive: false,
      liveMembers: groupMembers(pgid),
    });
    expect(readProcesses(dir).parent?.liveMembers).toHaveLength(2);

    const res = await client.stop("parent", { timeoutMs: 2_000 });
    expect(res).toMatchObject({ ok: true, alreadyStopped: true, strays: 2, signal: "SIGKILL" });
    expect(groupMembers(pgid)).toEqual([]);
  });

  it("sends a signal to the leader only", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const { pid } = await start(client, "hup", 'trap "echo got-hup" HUP; while :; do sleep 0.05; done');
    await waitFor("the loop", () => groupMembers(pid).length >= 2);
    expect(await client.signal("hup", "SIGHUP")).toEqual({ ok: true, pid });
    const log = path.join(dir, "logs/hup.log");
    await waitFor("got-hup in the log", () => fs.readFileSync(log, "utf8").includes("got-hup"));
    expect(readProcesses(dir).hup?.alive).toBe(true);
    await expect(client.signal("nope", "SIGHUP")).rejects.toThrow(/"nope" is not running/);
    await expect(client.signal("hup", "SIGBOGUS" as NodeJS.Signals)).rejects.toThrow(/unknown signal/);
  });

  it("reports a missing binary or working directory clearly", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const missing = client.start({
      name: "ghost",
      command: "/nonexistent/phpcluster-nope",
      env: ENV,
      logFile: "g.log",
    });
    await expect(missing).rejects.toBeInstanceOf(SupervisorError);
    await expect(missing).rejects.toThrow(
      `supervisor start (${dir}): cannot start "ghost": command not found: /nonexistent/phpcluster-nope (ENOENT)`,
    );
    await expect(
      client.start({
        name: "ghost",
        command: "sleep",
        args: ["1"],
        env: ENV,
        cwd: "/nonexistent/dir",
        logFile: "g.log",
      }),
    ).rejects.toThrow(/working directory does not exist: \/nonexistent\/dir/);
    expect((await client.status()).processes.ghost).toBeUndefined();
  });

  it("returns the running supervisor instead of starting a second one", async () => {
    const dir = newStateDir();
    const [a, b] = await Promise.all([launch(dir), launch(dir)]); // racing launches
    expect(b.pid).toBe(a.pid);
    const c = await launch(dir);
    expect(c.pid).toBe(a.pid);
    expect((await connectSupervisor(dir))?.pid).toBe(a.pid);
    // the loser of the race (if both spawned one) exits on its own with code 3
    const running = () =>
      fs
        .readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .map(Number)
        .filter((pid) => {
          const argv = readCmdline(pid) ?? [];
          return isAlive(pid) && argv.some((x) => x.endsWith("supervisor/main.js")) && argv.includes(dir);
        });
    await waitFor("a single supervisor", () => running().length === 1);
    expect(running()).toEqual([a.pid]);
  });

  it("shuts down: stops everything in order, removes its files and exits", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const a = await start(client, "a", MULTI);
    const b = await start(client, "b", 'trap "" TERM; sleep 30');
    await waitFor("members", () => groupMembers(a.pgid).length === 3 && groupMembers(b.pgid).length === 2);

    const res = await client.shutdown({ order: ["b", "nope"], timeoutMs: 300 });
    expect(res.errors).toEqual({});
    expect(res.stopped.a).toMatchObject({ forced: false });
    expect(res.stopped.b).toMatchObject({ forced: true });
    expect(isAlive(client.pid)).toBe(false);
    expect(groupMembers(a.pgid)).toEqual([]);
    expect(groupMembers(b.pgid)).toEqual([]);
    const paths = supervisorPaths(dir);
    for (const file of [paths.info, paths.socket, paths.lock]) expect(fs.existsSync(file)).toBe(false);
    expect(readProcesses(dir)).toMatchObject({
      a: { state: "exited" },
      b: { state: "exited", signal: "SIGKILL" },
    });
    expect(await connectSupervisor(dir)).toBeUndefined();
  });

  it("stops its children when it gets SIGTERM", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const { pgid } = await start(client, "group", MULTI);
    await waitFor("3 group members", () => groupMembers(pgid).length === 3);
    process.kill(client.pid, "SIGTERM");
    await waitFor("the supervisor to exit", () => !isAlive(client.pid), 10_000);
    expect(groupMembers(pgid)).toEqual([]);
    expect(fs.existsSync(path.join(dir, "supervisor.json"))).toBe(false);
    expect(readProcesses(dir).group).toMatchObject({ state: "exited", signal: "SIGTERM" });
  });

  it("copes with a supervisor killed by SIGKILL: children survive and can be cleaned up", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const group = await start(client, "group", MULTI);
    const stubborn = await start(client, "stubborn", 'trap "" TERM; sleep 30');
    await waitFor(
      "members",
      () => groupMembers(group.pgid).length === 3 && groupMembers(stubborn.pgid).length === 2,
    );

    process.kill(client.pid, "SIGKILL");
    await waitFor("the supervisor to die", () => !isAlive(client.pid));
    expect(fs.existsSync(path.join(dir, "supervisor.json"))).toBe(true); // stale
    expect(await connectSupervisor(dir)).toBeUndefined();
    await expect(client.status({ requestTimeoutMs: 2_000 })).rejects.toThrow(
      /supervisor status .*not running/,
    );

    const procs = readProcesses(dir);
    expect(procs.group).toMatchObject({ state: "running", alive: true });
    expect(procs.group?.liveMembers).toHaveLength(3);
    expect(procs.stubborn).toMatchObject({ state: "running", alive: true });

    const report = await killRecordedGroups(dir, "SIGTERM", { timeoutMs: 500 });
    expect(report.signalled.sort()).toEqual(["group", "stubborn"]);
    expect(report.forced).toEqual(["stubborn"]);
    expect(report.remaining).toEqual([]);
    expect(groupMembers(group.pgid)).toEqual([]);
    expect(groupMembers(stubborn.pgid)).toEqual([]);
    expect(readProcesses(dir).group).toMatchObject({ alive: false, liveMembers: [] });

    // a new supervisor takes over the stale lock/socket and marks the dead records exited
    const next = await launch(dir);
    expect(next.pid).not.toBe(client.pid);
    const status = await next.status();
    expect(status.processes.group).toMatchObject({ state: "exited", alive: false });
    await next.shutdown({ timeoutMs: 1_000 });
  });

  it("adopts survivors of a killed supervisor and can stop them", async () => {
    const dir = newStateDir();
    const first = await launch(dir);
    const { pgid } = await start(first, "group", MULTI);
    await waitFor("3 group members", () => groupMembers(pgid).length === 3);
    process.kill(first.pid, "SIGKILL");
    await waitFor("the supervisor to die", () => !isAlive(first.pid));

    const second = await launch(dir);
    expect((await second.status()).processes.group).toMatchObject({
      adopted: true,
      state: "running",
      alive: true,
    });
    await expect(
      second.start({ name: "group", command: "sleep", args: ["1"], env: ENV, logFile: "x.log" }),
    ).rejects.toThrow(/already running/);
    const res = await second.stop("group", { timeoutMs: 2_000 });
    expect(res).toMatchObject({ ok: true, forced: false });
    expect(groupMembers(pgid)).toEqual([]);
    expect((await second.status()).processes.group).toMatchObject({ state: "exited", alive: false });
  });

  it("does not trust a recorded pid whose start time differs (pid reuse)", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const res = await client.start({
      name: "real",
      command: "sleep",
      args: ["30"],
      env: ENV,
      logFile: "r.log",
    });
    groups.add(res.pgid);
    const rec = readProcesses(dir).real as ProcessRecord;

    const other = newStateDir();
    writeJsonFileSync(supervisorPaths(other).processes, {
      reused: { ...rec, name: "reused", startTime: rec.startTime + 1 },
    });
    expect(readProcesses(other).reused).toMatchObject({ alive: false, liveMembers: [] });
    const report = await killRecordedGroups(other, "SIGKILL", { timeoutMs: 500 });
    expect(report).toEqual({ signalled: [], forced: [], remaining: [] });
    expect(isAlive(res.pid)).toBe(true); // the unrelated process was left alone
    expect(readProcesses(dir).real?.alive).toBe(true);
  });

  it("answers a malformed request with the field at fault, starts nothing and keeps serving", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const base = { op: "start", name: "bad", command: "sleep", args: ["30"], env: ENV, logFile: "bad.log" };
    const { name: _name, ...noName } = base;
    const cases: [unknown, string][] = [
      [noName, "start: name must be a non-empty string"],
      [
        { ...base, env: { ...ENV, COUNT: 1 } },
        "start: env must be an object of strings (the complete environment)",
      ],
      [{ ...base, args: "30" }, "start: args must be an array of strings"],
      [{ ...base, command: "", logFile: undefined }, "start: command is required; logFile is required"],
      [{ ...base, name: "x".repeat(201) }, "start: name must be at most 200 characters"],
      [{ op: "bogus", name: "bad" }, 'unknown op "bogus"'],
      [{ name: "bad" }, "unknown op undefined"],
      [{ op: "signal", name: "bad", signal: "SIGBOGUS" }, 'signal: unknown signal "SIGBOGUS"'],
      [{ op: "signal", name: "bad" }, "signal: signal is required"],
      [{ op: "stop", name: "bad", signal: 9 }, "stop: unknown signal 9"],
      [{ op: "stop", name: "bad", timeoutMs: -1 }, "stop: timeoutMs must be >= 0"],
      [{ op: "shutdown", order: ["a", 2] }, "shutdown: order must be an array of names"],
      [[1, 2], "request must be a JSON object"],
    ];
    const lines = [...cases.map(([req]) => JSON.stringify(req)), "not json", '{"op":"status"}'];
    const answers = await exchange(client.info.socketPath, lines);
    expect(answers.slice(0, cases.length)).toEqual(cases.map(([, error]) => ({ ok: false, error })));
    expect(answers[cases.length]).toEqual({ ok: false, error: "invalid JSON request" });
    // the same connection still works, and nothing was started or recorded
    expect(answers[cases.length + 1]).toMatchObject({ ok: true, shuttingDown: false, processes: {} });
    expect(fs.existsSync(path.join(dir, "bad.log"))).toBe(false);
    expect(readProcesses(dir)).toEqual({});

    // through the client the same message arrives in a SupervisorError
    const viaClient = await client
      .start({ name: "", command: "sleep", env: ENV, logFile: "bad.log" })
      .catch((e: unknown) => e);
    expect(viaClient).toBeInstanceOf(SupervisorError);
    expect((viaClient as SupervisorError).message).toBe(
      `supervisor start (${dir}): start: name must be a non-empty string`,
    );
    expect((viaClient as SupervisorError).reason).toBe("start: name must be a non-empty string");

    // and it keeps serving valid requests on new connections
    expect(client.isAlive()).toBe(true);
    const ok = await start(client, "good", "sleep 30");
    expect((await client.status()).processes.good).toMatchObject({
      pid: ok.pid,
      state: "running",
      alive: true,
    });
  });

  it("rejects an answer that is not a response of the protocol", async () => {
    const dir = newStateDir();
    const socketPath = path.join(dir, "fake.sock");
    const answers: Record<string, string> = {
      status: '{"ok":true}',
      start: '{"ok":true,"pid":"12","pgid":12,"startTime":1}',
      signal: '{"ok":false,"error":"no such thing"}',
      stop: '{"ok":"yes"}',
    };
    const server = net.createServer((sock) => {
      sock.setEncoding("utf8");
      sock.on("data", (chunk: string) => {
        const op = (JSON.parse(chunk.trim()) as { op: string }).op;
        sock.end(`${answers[op] ?? '{"ok":false,"error":"?"}'}\n`);
      });
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      const client = new SupervisorClient(dir, {
        pid: process.pid,
        startTime: readProcStat(process.pid)?.startTime ?? 0,
        socketPath,
        stateDir: dir,
        startedAt: new Date().toISOString(),
      });
      const status = await client.status({ requestTimeoutMs: 2_000 }).catch((e: unknown) => e);
      expect(status).toBeInstanceOf(SupervisorError);
      expect(String(status)).toMatch(/supervisor status .*: invalid response: .*supervisor: /);
      await expect(
        client.start({ name: "x", command: "true", env: ENV, logFile: "x.log" }, { requestTimeoutMs: 2_000 }),
      ).rejects.toThrow(/supervisor start .*: invalid response: pid: /);
      await expect(client.stop("x", { requestTimeoutMs: 2_000 })).rejects.toThrow(/invalid response: ok: /);
      await expect(client.signal("x", "SIGHUP", { requestTimeoutMs: 2_000 })).rejects.toThrow(
        `supervisor signal (${dir}): no such thing`,
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("skips processes.json records that do not match the schema", async () => {
    const dir = newStateDir();
    const own = readProcStat(process.pid);
    if (!own) throw new Error("no /proc entry for the test process");
    // this very process with another start time: a valid record of a process that is gone (pid reused)
    const good: ProcessRecord = {
      name: "good",
      pid: process.pid,
      pgid: process.pid,
      startTime: own.startTime + 1,
      argv: ["sleep", "30"],
      cwd: dir,
      state: "running",
      startedAt: new Date().toISOString(),
      logFile: path.join(dir, "good.log"),
    };
    writeJsonFileSync(supervisorPaths(dir).processes, {
      good,
      pidNotANumber: { ...good, pid: String(process.pid) },
      groupOne: { ...good, pgid: 1 },
      noArgv: { ...good, argv: undefined },
      oddState: { ...good, state: "sleeping" },
      notAnObject: 42,
    });
    expect(readProcesses(dir)).toEqual({ good: { ...good, alive: false, liveMembers: [] } });
    // nothing to signal: in particular not process group 1
    expect(await killRecordedGroups(dir, "SIGTERM", { timeoutMs: 200 })).toEqual({
      signalled: [],
      forced: [],
      remaining: [],
    });

    // a supervisor started on it keeps the valid record only, marked exited
    const client = await launch(dir);
    const status = await client.status();
    expect(Object.keys(status.processes)).toEqual(["good"]);
    expect(status.processes.good).toMatchObject({ state: "exited", alive: false, exitCode: null });
    expect(Object.keys(readProcesses(dir))).toEqual(["good"]);
  });

  it("recreates a removed socket and supervisor.json", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const paths = supervisorPaths(dir);
    fs.rmSync(paths.socket);
    expect((await connectSupervisor(dir))?.pid).toBe(client.pid); // retries until it listens again
    fs.rmSync(paths.socket);
    fs.rmSync(paths.info);
    await waitFor(
      "socket and supervisor.json back",
      () => fs.existsSync(paths.socket) && fs.existsSync(paths.info),
    );
    const again = await connectSupervisor(dir);
    expect(again?.pid).toBe(client.pid);
    expect((await client.status()).ok).toBe(true);
    expect(fs.statSync(paths.socket).mode & 0o777).toBe(0o600);
  });

  it("stops everything and exits when its state directory is removed", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const { pgid } = await start(client, "group", MULTI);
    await waitFor("3 group members", () => groupMembers(pgid).length === 3);
    fs.rmSync(dir, { recursive: true, force: true });
    await waitFor("the supervisor to exit", () => !isAlive(client.pid), 10_000);
    expect(groupMembers(pgid)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false); // not recreated
  });

  it("lets only one supervisor run per state directory", async () => {
    const dir = newStateDir();
    const client = await launch(dir);
    const second = await execa(process.execPath, [entry, dir], { reject: false, timeout: 10_000 });
    expect(second.exitCode).toBe(3);
    expect(second.stdout).toMatch(new RegExp(`another supervisor \\(pid ${client.pid}\\) already runs`));
    expect((await client.status()).ok).toBe(true); // its socket was left alone
  });

  it("fails a launch clearly (and leaves nothing behind) when the entry never answers or dies", async () => {
    const dir = newStateDir();
    const hang = path.join(dir, "hang.mjs");
    fs.writeFileSync(hang, 'console.log("pid", process.pid); setInterval(() => {}, 1000);\n');
    const err = await launchSupervisor(dir, { entry: hang, timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SupervisorError);
    expect(String(err)).toMatch(/supervisor launch .*did not answer within 500 ms/);
    const pid = Number(/pid (\d+)/.exec(fs.readFileSync(path.join(dir, "supervisor.log"), "utf8"))?.[1]);
    await waitFor("the hung entry to be killed", () => !isAlive(pid));

    const crash = path.join(dir, "crash.mjs");
    fs.writeFileSync(crash, 'console.log("boom"); process.exit(1);\n');
    await expect(launchSupervisor(dir, { entry: crash, timeoutMs: 5_000 })).rejects.toThrow(
      /exited during start-up \(code 1\)\n(.|\n)*boom/,
    );
  });

  it("refuses a missing or relative state directory", async () => {
    const missing = await execa(
      process.execPath,
      [entry, path.join(os.tmpdir(), "phpcluster-no-such-dir-xyz")],
      {
        reject: false,
        timeout: 10_000,
      },
    );
    expect(missing.exitCode).toBe(1);
    expect(missing.stdout).toMatch(/state directory does not exist/);
    const relative = await execa(process.execPath, [entry, "relative/dir"], {
      reject: false,
      timeout: 10_000,
    });
    expect(relative.exitCode).toBe(2);
  });

  it("falls back to a short socket path when the state dir is deep", async () => {
    const base = newStateDir();
    const dir = path.join(base, "x".repeat(60), "y".repeat(60));
    fs.mkdirSync(dir, { recursive: true });
    const socketPath = socketPathFor(dir);
    expect(socketPath.startsWith(path.join(os.tmpdir(), "phpcluster-"))).toBe(true);
    expect(socketPath).toMatch(/phpcluster-[0-9a-f]{16}\.sock$/);
    stateDirs.push(dir); // so afterEach removes its socket too

    const client = await launch(dir);
    expect(client.info.socketPath).toBe(socketPath);
    expect(fs.statSync(socketPath).mode & 0o777).toBe(0o600);
    expect((await client.status()).supervisor.pid).toBe(client.pid);
    await client.shutdown({ timeoutMs: 1_000 });
    expect(fs.existsSync(socketPath)).toBe(false);
  });
});
