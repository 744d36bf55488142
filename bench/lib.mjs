// Shared helpers of the benchmarks under bench/: free ports on 127.0.0.1, a temporary cluster
// directory from an example topology, the CLI runner (argument arrays, the JSON envelope), child
// processes tracked by pid and ended on exit or Ctrl-C, interleaved rounds, statistics, machine
// facts, and bench/RESULTS.md (one section per benchmark). Benchmarks print and record figures;
// they assert nothing, and no test times anything.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("..", import.meta.url));
export const BIN = path.join(REPO, "bin", "phpcluster.js");
export const RESULTS = path.join(REPO, "bench", "RESULTS.md");

// ---------------------------------------------------------------------------------------------
// Ports

/** Whether `port` can be bound on 127.0.0.1 right now. */
export const isFree = (port) =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => resolve(true)));
  });

/** The first port of `n` consecutive free ports, below the ephemeral range (32768+). */
/** A command-line option that must be a positive integer (`--name`): the number, or an error naming it. */
export function positiveInt(v, name) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, not ${v}`);
  return n;
}

export async function portBlock(n) {
  for (;;) {
    const base = 20000 + Math.floor(Math.random() * (12000 - n));
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await isFree(p);
    if (ok) return base;
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup: everything a benchmark starts is ended by what it recorded (a pid, a cluster file),
// in reverse order, on normal exit, on an exception and on SIGINT/SIGTERM.

const cleanups = [];
let cleaning;
let signalled = false;

/** Register `fn` (sync or async) to run at cleanup; returns a function that unregisters it. */
export function defer(fn) {
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Run every registered cleanup once (latest first); errors are printed, not thrown. */
export function cleanup() {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (e) {
        console.error(`cleanup: ${e?.message ?? e}`);
      }
    }
  })();
  return cleaning;
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    signalled = true;
    console.error(`\n${signal}: cleaning up`);
    cleanup().finally(() => process.exit(128 + (os.constants.signals[signal] ?? 0)));
  });
}

/** `main` with cleanup afterwards, whatever happens; a failure exits 1. */
export async function run(main) {
  try {
    await main();
  } catch (e) {
    // after Ctrl-C, what was in flight fails as its processes end: that is no news
    if (!signalled) console.error(e?.stack ?? e);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

/**
 * A long-running child (nginx, …) started from an argument array (never a shell), in its own
 * process group; ended at cleanup by its pid (SIGTERM to its group, SIGKILL after `graceMs`).
 */
export function startProcess(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], detached: true, ...opts });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise((resolve) => child.once("exit", (code, sig) => resolve({ code, sig })));
  let alive = true;
  exited.then(() => {
    alive = false;
  });
  const stop = async (graceMs = 3000) => {
    if (!alive) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, graceMs);
    await exited;
    clearTimeout(t);
  };
  const undo = defer(stop);
  return {
    pid: child.pid,
    exited,
    alive: () => alive,
    stderr: () => stderr,
    stop: async () => {
      undo();
      await stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Clusters

/**
 * A temporary directory (mode 0755: Apache's workers may run as www-data) holding a copy of
 * examples/ with `example` renamed to `name`, its balancer on a free port block (`ports` wide:
 * the native runtime puts the app and memcached nodes on the ports after the balancer's), and
 * `extra` applied to the text. Removed at cleanup.
 */
export async function tempCluster({ example = "ha-sessions.yml", name, ports = 8, edit = (text) => text }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `phpcluster-bench-${name}-`));
  chmodSync(dir, 0o755);
  defer(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(path.join(REPO, "examples"), dir, { recursive: true });
  const file = path.join(dir, example);
  const port = await portBlock(ports);
  const text = readFileSync(file, "utf8")
    .replace(/^name: \S+$/m, `name: ${name}`)
    .replace(/^(balancer:\n(?:[ \t].*\n)*?[ \t]+port: )\d+$/m, `$1${port}`);
  if (!text.includes(`name: ${name}`) || !text.includes(`port: ${port}`)) {
    throw new Error(`${example}: could not set the name and the balancer port`);
  }
  writeFileSync(file, edit(text));
  return { dir, file, name, port, stateDir: path.join(dir, ".phpcluster", name) };
}

/**
 * Run a program (an argument array, no shell) without blocking the event loop, so that Ctrl-C
 * reaches the cleanup and a load running meanwhile keeps its timings: its exit code and output,
 * SIGTERM after `timeoutMs`. Rejects only when it cannot be started.
 */
export function collect(cmd, args, { cwd, env, timeoutMs = 180_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const CLI_ENV = () => ({ ...process.env, CI: "true", NO_COLOR: "1" });

/**
 * `node bin/phpcluster.js <args> -f <file> --json`: the parsed envelope ({ok, command, data} or
 * {ok: false, error}). Asynchronous, so that Ctrl-C reaches the cleanup while a command runs.
 */
export async function cli(file, args, { timeoutMs = 180_000 } = {}) {
  const r = await collect(process.execPath, [BIN, ...args, "-f", file, "--json"], {
    cwd: path.dirname(file),
    env: CLI_ENV(),
    timeoutMs,
  });
  try {
    return { exitCode: r.code, ...JSON.parse(r.stdout) };
  } catch {
    const message = r.stderr.slice(-4000).trim() || r.stdout.trim();
    return { ok: false, exitCode: r.code, error: { code: "NO_JSON", message } };
  }
}

/** `node bin/phpcluster.js <args> -f <file>` in CI mode, without --json: exit code, output and wall time. */
export async function cliPlain(file, args, { timeoutMs = 300_000 } = {}) {
  const t0 = performance.now();
  const r = await collect(process.execPath, [BIN, ...args, "-f", file], {
    cwd: path.dirname(file),
    env: CLI_ENV(),
    timeoutMs,
  });
  const t1 = performance.now();
  return { ...r, t0, t1 };
}

/** `cli` that throws unless the envelope says ok. */
export async function cliOk(file, args, opts) {
  const r = await cli(file, args, opts);
  if (!r.ok) throw new Error(`phpcluster ${args.join(" ")}: ${JSON.stringify(r.error)}`);
  return r.data;
}

/**
 * `phpcluster create` of `cluster` (from tempCluster); `phpcluster destroy` is registered for
 * cleanup before the create starts (a create that fails half-way stops what it started itself).
 * Returns the `status` data: nodes with role, address and pid, and the balancer URL.
 */
export async function createCluster(cluster, args = ["--runtime", "native"]) {
  defer(async () => {
    const r = await cli(cluster.file, ["destroy"]);
    if (!r.ok && r.error?.code !== "NOT_CREATED")
      console.error(`destroy ${cluster.name}: ${r.error?.message}`);
  });
  await cliOk(cluster.file, ["create", ...args]);
  return await cliOk(cluster.file, ["status"]);
}

/** host and port of a status node's address ("127.0.0.1:8181", "[::1]:8181"). */
export function splitAddress(address) {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`not host:port: ${address}`);
  return { host: m[1], port: Number(m[2]) };
}

// ---------------------------------------------------------------------------------------------
// Rounds and statistics

/**
 * Run every case once per round, in order (A B C A B C …), so that the machine's drift hits all
 * alike. `cases` is [{name, run: async (round) => result}]; returns {name: [result per round]}.
 */
export async function interleave(cases, rounds, { onResult } = {}) {
  const out = Object.fromEntries(cases.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const result = await c.run(r);
      out[c.name].push(result);
      onResult?.(c.name, r, result);
    }
  }
  return out;
}

/** The median (the mean of the two middle values for an even count); NaN for none. */
export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The p-quantile (0..1) by the nearest-rank method. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return {
    n: s.length,
    min: s[0],
    p50: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    p99: percentile(s, 0.99),
    max: s[s.length - 1],
  };
}

// ---------------------------------------------------------------------------------------------
// wrk

/** wrk's text summary: requests/s, latency percentiles (ms), non-2xx/3xx and socket errors. */
export function parseWrk(text) {
  const unit = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
  const latency = {};
  for (const m of text.matchAll(/^\s*(\d+(?:\.\d+)?)%\s+(\d+(?:\.\d+)?)(us|ms|s|m|h)\s*$/gm)) {
    latency[`p${m[1]}`] = Number(m[2]) * unit[m[3]];
  }
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),/m.exec(text);
  const non2xx = /^\s*Non-2xx or 3xx responses:\s+(\d+)/m.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    rps: rps ? Number(rps[1]) : Number.NaN,
    requests: total ? Number(total[1]) : Number.NaN,
    latencyMs: latency,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock
      ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

// ---------------------------------------------------------------------------------------------
// Machine facts

function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) return "not found";
  const text = `${r.stdout ?? ""}\n${r.stderr ?? ""}`.trim();
  return text.split("\n").find((l) => l.trim() !== "") ?? "";
}

/** What the figures depend on: the CPU, memory, kernel and every server's version. */
export function machineFacts() {
  const cpus = os.cpus();
  const memcached = firstLine("memcached", ["-V"]);
  const git = spawnSync("git", ["-C", REPO, "rev-parse", "--short", "HEAD"], { encoding: "utf8" });
  const dirty = spawnSync("git", ["-C", REPO, "status", "--porcelain", "--untracked-files=no"], {
    encoding: "utf8",
  });
  return {
    cpu: `${cpus[0]?.model.trim() ?? "unknown"} × ${cpus.length}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    load: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" "),
    nginx: firstLine("nginx", ["-v"]).replace(/^nginx version: /, ""),
    apache: firstLine("apache2", ["-v"]).replace(/^Server version: /, ""),
    php: firstLine("php", ["-r", "echo PHP_VERSION, ' memcached ', phpversion('memcached');"]),
    memcached,
    wrk: firstLine("wrk", ["-v"]).replace(/ Copyright.*$/, ""),
    node: process.version,
    commit: `${git.stdout.trim() || "unknown"}${dirty.stdout.trim() ? " (with uncommitted changes)" : ""}`,
  };
}

export function factsMarkdown(facts = machineFacts()) {
  return Object.entries(facts)
    .map(([k, v]) => `- ${k}: ${v}`)
    .join("\n");
}

// ---------------------------------------------------------------------------------------------
// bench/RESULTS.md: a header (machine, date, versions) and one section per benchmark between
// `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; a benchmark rewrites only its own section.

const HEADER_START = "<!-- bench:header -->";
const HEADER_END = "<!-- /bench:header -->";

/** Set when bench/run.mjs runs the scripts: it writes the header once, the scripts do not. */
export const UNDER_RUNNER = process.env.PHPCLUSTER_BENCH_RUN === "1";

const readResults = (file) =>
  existsSync(file)
    ? readFileSync(file, "utf8")
    : "# Benchmark results\n\nWritten by the scripts under bench/ (`node bench/<name>.mjs`); each rewrites only its own section.\n\n";

/** Replace the header with `markdown` (or put it before the first section). */
function withHeader(text, markdown) {
  const header = `${HEADER_START}\n${markdown.trim()}\n${HEADER_END}`;
  return replaceBetween(text, HEADER_START, HEADER_END, header, (t) => {
    const i = t.indexOf("<!-- bench:");
    return i < 0 ? t.replace(/\n*$/, `\n\n${header}\n`) : `${t.slice(0, i)}${header}\n\n${t.slice(i)}`;
  });
}

/** Replace (or append) section `name` of bench/RESULTS.md with `markdown`, and the header (not under bench/run.mjs). */
export function writeResults(name, markdown, { file = RESULTS, facts } = {}) {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`section name ${name}: letters, digits and dashes`);
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  let text = readResults(file);
  if (!UNDER_RUNNER) {
    text = withHeader(
      text,
      `Last written ${new Date().toISOString()} (section ${name}) on:\n\n${factsMarkdown(facts ?? machineFacts())}`,
    );
  }
  const body = `${start}\n${markdown.trim()}\n${end}`;
  text = replaceBetween(text, start, end, body, (t) => `${t.replace(/\n*$/, "")}\n\n${body}\n`);
  writeFileSync(file, text);
}

/** Replace (or insert) the header of bench/RESULTS.md with `markdown` (bench/run.mjs). */
export function writeHeader(markdown, { file = RESULTS } = {}) {
  writeFileSync(file, withHeader(readResults(file), markdown));
}

function replaceBetween(text, start, end, replacement, otherwise) {
  const i = text.indexOf(start);
  const j = text.indexOf(end, i + start.length);
  if (i < 0 || j < 0) return otherwise(text);
  return text.slice(0, i) + replacement + text.slice(j + end.length);
}

/** A markdown table from a header row and rows of cells. */
export function table(head, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}
