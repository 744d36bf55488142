// Every benchmark, in order, one after another (never two at once: they would measure each
// other): startup, throughput, failover, restart, scale, then the older print-only opcache and
// memcached. `--quick` is passed to every script that takes it; the two older ones take
// positional arguments and get smaller ones instead. A script that is not there
// is reported as skipped; one that fails does
// not stop the run, but the run exits 1 at the end and names it. The scripts write their own
// sections of bench/RESULTS.md; the header (machine, date, versions, the commands of this run)
// is written once, by this runner, at the end (also after a failure or Ctrl-C).
// Usage: npm run bench [-- --quick] [-- --only startup,scale]
//        (npm run bench = npm run build && node bench/run.mjs)
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { factsMarkdown, machineFacts, REPO, table, writeHeader } from "./lib.mjs";

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    "no-write": { type: "boolean", default: false },
  },
});

/** In order. `quickArgs`: what a script that does not take --quick gets in a quick run. */
const SCRIPTS = [
  { name: "startup" },
  { name: "throughput" },
  { name: "failover" },
  { name: "restart" },
  { name: "scale" },
  { name: "opcache", quickArgs: ["2", "2"] }, // rounds, seconds per round
  { name: "memcached", quickArgs: ["1", "2000"] }, // rounds, sessions
];
const NOT_RUN = "swarm-host-cut.mjs needs the swarm test bed (`.ci/swarm-bed.sh up`) and is run by hand.";

const only = opt.only?.split(",").filter(Boolean);
if (only) {
  const unknown = only.filter((n) => !SCRIPTS.some((s) => s.name === n));
  if (unknown.length > 0) {
    console.error(
      `--only: no such benchmark: ${unknown.join(", ")} (known: ${SCRIPTS.map((s) => s.name).join(", ")})`,
    );
    process.exit(2);
  }
}
const selected = SCRIPTS.filter((s) => !only || only.includes(s.name));
const facts = machineFacts(); // at the start: the load before the benchmarks add theirs
const startedAt = new Date();
const runCommand = `node bench/run.mjs ${process.argv.slice(2).join(" ")}`.trim();
const outcomes = [];
let child;
let interrupted;

/** Whether a script declares the --quick option (parseArgs in the lib.mjs style). */
const takesQuick = (file) => /\bquick\s*:\s*\{\s*type:/.test(readFileSync(file, "utf8"));

function argsFor(script, file) {
  if (!opt.quick) return { args: [], note: "" };
  if (takesQuick(file)) return { args: ["--quick"], note: "" };
  if (script.quickArgs)
    return { args: script.quickArgs, note: "takes no --quick: smaller positional arguments" };
  return { args: [], note: "takes no --quick: its defaults" };
}

function runScript(file, args) {
  return new Promise((resolve) => {
    // same process group: Ctrl-C at the terminal reaches the script and what it runs, and the
    // script cleans up itself; a signal sent to the runner alone is passed on (see below)
    child = spawn(process.execPath, [file, ...args], {
      cwd: REPO,
      stdio: "inherit",
      env: { ...process.env, PHPCLUSTER_BENCH_RUN: "1" },
    });
    child.on("error", (e) => resolve({ code: 1, signal: undefined, error: e.message }));
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = signal;
    console.error(`\n${signal}: stopping after the running benchmark has cleaned up`);
    // a terminal's Ctrl-C reached the script too; a signal to this process alone is passed on
    const running = child;
    setTimeout(() => {
      if (running && running.exitCode === null && running.signalCode === null) {
        try {
          process.kill(running.pid, signal);
        } catch {}
      }
    }, 1000).unref();
  });
}

const minutes = (ms) => (ms < 60_000 ? `${(ms / 1000).toFixed(0)} s` : `${(ms / 60_000).toFixed(1)} min`);

for (const script of selected) {
  const file = path.join(REPO, "bench", `${script.name}.mjs`);
  const command = (args) => `node bench/${script.name}.mjs${args.length ? ` ${args.join(" ")}` : ""}`;
  if (interrupted) {
    outcomes.push({ name: script.name, command: command([]), result: "not run (interrupted)", ms: 0 });
    continue;
  }
  if (!existsSync(file)) {
    console.log(`\n=== ${script.name}: skipped (bench/${script.name}.mjs is not there)`);
    outcomes.push({ name: script.name, command: command([]), result: "skipped: not there", ms: 0 });
    continue;
  }
  const { args, note } = argsFor(script, file);
  console.log(`\n=== ${script.name}: ${command(args)}${note ? ` (${note})` : ""}`);
  const t0 = Date.now();
  const r = await runScript(file, args);
  const ms = Date.now() - t0;
  const ok = r.code === 0;
  const result = ok
    ? "ok"
    : `failed (${r.signal ? `signal ${r.signal}` : `exit ${r.code}`}${r.error ? `: ${r.error}` : ""})`;
  console.log(`=== ${script.name}: ${result}, ${minutes(ms)}`);
  outcomes.push({ name: script.name, command: command(args), note, result, ms, failed: !ok });
}

const finishedAt = new Date();
const failed = outcomes.filter((o) => o.failed).map((o) => o.name);
const header = [
  `Last run by \`npm run build && ${runCommand}\`${opt.quick ? " (**quick**: indicative only)" : ""}, ` +
    `${startedAt.toISOString()} to ${finishedAt.toISOString()} (${minutes(finishedAt - startedAt)})` +
    `${interrupted ? `, **interrupted** (${interrupted})` : ""}, on:`,
  "",
  factsMarkdown(facts),
  "",
  "The benchmarks of that run, in order (each wrote its own section below; a section of a script that failed or was skipped is from an earlier run, see its date):",
  "",
  table(
    ["benchmark", "command", "result", "time"],
    outcomes.map((o) => [
      o.name,
      `\`${o.command}\`${o.note ? ` (${o.note})` : ""}`,
      o.result,
      o.ms ? minutes(o.ms) : "–",
    ]),
  ),
  "",
  `Not in the run: ${NOT_RUN}`,
].join("\n");
if (!opt["no-write"]) {
  writeHeader(header);
  console.log(`\nwrote the header of bench/RESULTS.md`);
}
console.log(
  `\nbenchmarks: ${outcomes.map((o) => `${o.name} ${o.failed ? "FAILED" : o.result.split(":")[0].split(" ")[0]}`).join(", ")}`,
);
if (interrupted) process.exit(130);
if (failed.length > 0) {
  console.error(`failed: ${failed.join(", ")}`);
  process.exit(1);
}
