// Start-up and the CLI's own cost, in two parts:
//   1. `phpcluster --version` and `phpcluster validate -f examples/ha-sessions.yml` against a bare
//      `node -e 0`, interleaved (N V L N V L …) so that the machine's drift hits all alike; the
//      first round only warms the file cache; medians and the ratios to node itself.
//   2. `phpcluster create` until every node is healthy, `phpcluster verify` (total, and per
//      scenario from `verify --json`: the durationMs of its checks, summed per scenario) and
//      `phpcluster destroy`, for examples/ha-sessions.yml (3 app nodes, 2 memcached,
//      `sessions.replicas: 1`) on native, and on compose when a Docker engine answers (`docker
//      info`), interleaved per round (native, compose, native, compose …), medians. Every round
//      is a fresh create; compose rounds reuse the images of the first (destroy keeps them; the
//      last round removes them).
// Prints figures and writes the `startup` section of bench/RESULTS.md; asserts nothing.
// Usage: npm run build && node bench/startup.mjs [--quick] [--runs N] [--rounds N]
//        [--runtimes native,compose] [--base IMAGE] [--no-cluster] [--no-write]
import { spawn, spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  BIN,
  cli,
  defer,
  interleave,
  machineFacts,
  median,
  positiveInt,
  REPO,
  run,
  table,
  tempCluster,
  writeResults,
} from "./lib.mjs";

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    rounds: { type: "string" },
    runtimes: { type: "string", default: "native,compose" },
    base: { type: "string", default: "phpcluster/base:bookworm" },
    "no-cluster": { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});
const RUNS = positiveInt(opt.runs ?? (opt.quick ? 7 : 21), "runs");
const ROUNDS = positiveInt(opt.rounds ?? (opt.quick ? 1 : 3), "rounds");
const EXAMPLE = "ha-sessions.yml";
const CREATE_TIMEOUT = "10m";
const VERIFY_TIMEOUT_MS = 20 * 60_000;

const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "–");
const sec = (ms) => (Number.isFinite(ms) ? (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) : "–");

// ---------------------------------------------------------------------------------------------
// 1. start-up of the CLI

/** One run of `node <args>`, its wall time in ms (asynchronous, so Ctrl-C is seen between runs). */
function timeNode(args) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, {
      cwd: REPO,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, CI: "true", NO_COLOR: "1" },
    });
    let err = "";
    child.stderr.on("data", (d) => {
      err = (err + d).slice(-2000);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`node ${args.join(" ")} exited ${code}: ${err}`));
      else resolve(ms);
    });
  });
}

const CLI_CASES = [
  { name: "node -e 0", args: ["-e", "0"] },
  { name: "phpcluster --version", args: [BIN, "--version"] },
  {
    name: `phpcluster validate -f examples/${EXAMPLE}`,
    args: [BIN, "validate", "-f", path.join("examples", EXAMPLE)],
  },
];

async function startupPart() {
  console.log(`start-up: ${RUNS} interleaved runs (+1 warm-up round) of ${CLI_CASES.length} commands`);
  const results = await interleave(
    CLI_CASES.map((c) => ({ name: c.name, run: () => timeNode(c.args) })),
    RUNS + 1,
  );
  const base = median(results["node -e 0"].slice(1));
  const rows = CLI_CASES.map((c) => {
    const xs = results[c.name].slice(1);
    const m = median(xs);
    console.log(`  ${c.name.padEnd(48)} ${fmt(m).padStart(5)} ms  ${(m / base).toFixed(2)}× node -e 0`);
    return [
      `\`${c.name}\``,
      fmt(m),
      `${(m / base).toFixed(2)}×`,
      `+${fmt(m - base)}`,
      `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`,
    ];
  });
  return table(["command", "median ms", "× node -e 0", "ms over node", "range ms"], rows);
}

// ---------------------------------------------------------------------------------------------
// 2. create, verify, destroy

/** Whether a Docker engine answers here, and its version. */
function dockerEngine() {
  const r = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], {
    encoding: "utf8",
    timeout: 20_000,
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function hasImage(image) {
  return spawnSync("docker", ["image", "inspect", image], { stdio: "ignore", timeout: 20_000 }).status === 0;
}

/** `phpcluster <args>` through lib.mjs's cli, with its wall time. */
async function timed(file, args, opts) {
  const t0 = process.hrtime.bigint();
  const r = await cli(file, args, opts);
  return { ...r, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** The per-scenario durations of a verify report (the sum of its checks' durationMs). */
function scenarioTimes(report) {
  const out = {};
  for (const c of report?.checks ?? []) {
    const s = c.scenario ?? c.name;
    out[s] ??= { ms: 0, checks: 0, failed: 0 };
    out[s].ms += c.durationMs ?? 0;
    out[s].checks += 1;
    if (!c.ok) out[s].failed += 1;
  }
  return out;
}

async function lifecycleCase(runtime, rounds) {
  const cluster = await tempCluster({
    example: EXAMPLE,
    name: `bench-su-${runtime}`,
    ports: 8,
    edit: (text) =>
      runtime === "compose" ? `${text.replace(/\n*$/, "\n")}images:\n  base: ${opt.base}\n` : text,
  });
  let created = false;
  const destroy = async (images) => {
    if (!created) return;
    created = false;
    const r = await timed(cluster.file, ["destroy", ...(images ? ["--images"] : [])]);
    if (!r.ok && r.error?.code !== "NOT_CREATED")
      console.error(`destroy ${cluster.name}: ${r.error?.message}`);
    return r.ms;
  };
  defer(() => destroy(runtime === "compose"));
  return {
    name: runtime,
    run: async (round) => {
      created = true;
      const c = await timed(cluster.file, ["create", "--runtime", runtime, "--timeout", CREATE_TIMEOUT], {
        timeoutMs: 15 * 60_000,
      });
      if (!c.ok) throw new Error(`create (${runtime}): ${JSON.stringify(c.error)}`);
      const v = await timed(cluster.file, ["verify"], { timeoutMs: VERIFY_TIMEOUT_MS });
      const report = v.ok ? v.data : v.error?.details?.report;
      if (!report) throw new Error(`verify (${runtime}): ${JSON.stringify(v.error)}`);
      const destroyMs = await destroy(runtime === "compose" && round === rounds - 1);
      const result = {
        createMs: c.ms,
        verifyMs: v.ms,
        verifyReportMs: report.durationMs,
        verifyOk: report.ok,
        failed: report.checks.filter((x) => !x.ok).map((x) => x.name),
        scenarios: scenarioTimes(report),
        destroyMs,
      };
      console.log(
        `  round ${round + 1} ${runtime}: create ${sec(c.ms)} s, verify ${sec(v.ms)} s (${report.ok ? "passed" : `FAILED: ${result.failed.join(", ")}`}), destroy ${sec(destroyMs)} s`,
      );
      return result;
    },
  };
}

async function clusterPart() {
  const wanted = opt.runtimes.split(",").filter(Boolean);
  const runtimes = [];
  const notes = [];
  if (wanted.includes("native")) runtimes.push("native");
  let engine;
  if (wanted.includes("compose")) {
    engine = dockerEngine();
    if (!engine) notes.push("compose: skipped, no Docker engine answers (`docker info`).");
    else if (!hasImage(opt.base))
      notes.push(`compose: skipped, the base image ${opt.base} is not on the engine.`);
    else {
      runtimes.push("compose");
      notes.push(
        `compose: Docker engine ${engine}, \`images.base: ${opt.base}\` added to the topology; round 1 builds the cluster's images (from the engine's layer cache when it has them), later rounds reuse them.`,
      );
    }
  }
  if (runtimes.length === 0) return { markdown: notes.join("\n"), runtimes };
  console.log(`create / verify / destroy of examples/${EXAMPLE}: ${runtimes.join(", ")}, ${ROUNDS} rounds`);
  const cases = [];
  for (const r of runtimes) cases.push(await lifecycleCase(r, ROUNDS));
  const loadBefore = loadavg();
  const results = await interleave(cases, ROUNDS);
  notes.unshift(
    `Load average (1, 5, 15 min) before the rounds: ${loadBefore}; after: ${loadavg()} (${os.cpus().length} CPUs).`,
  );

  const totals = runtimes.map((r) => {
    const rs = results[r];
    return [
      r,
      sec(median(rs.map((x) => x.createMs))),
      sec(median(rs.map((x) => x.verifyMs))),
      sec(median(rs.map((x) => x.destroyMs))),
      rs.map((x) => `${sec(x.createMs)} / ${sec(x.verifyMs)}`).join("; "),
      rs.every((x) => x.verifyOk)
        ? "all passed"
        : rs
            .map((x, i) => (x.verifyOk ? "" : `round ${i + 1}: ${x.failed.join(", ")}`))
            .filter(Boolean)
            .join("; "),
    ];
  });
  const scenarios = [
    ...new Set(runtimes.flatMap((r) => results[r].flatMap((x) => Object.keys(x.scenarios)))),
  ];
  const scenarioRows = scenarios.map((s) => [
    `\`${s}\``,
    ...runtimes.flatMap((r) => {
      const xs = results[r].map((x) => x.scenarios[s]).filter(Boolean);
      if (xs.length === 0) return ["–"];
      const failed = xs.reduce((n, x) => n + x.failed, 0);
      return [
        `${sec(median(xs.map((x) => x.ms)))}${xs[0].checks > 1 ? ` (${xs[0].checks} checks)` : ""}${failed ? ` ✗${failed}` : ""}`,
      ];
    }),
  ]);
  const sumRow = [
    "sum of checks / report total / command wall",
    ...runtimes.map((r) => {
      const rs = results[r];
      const sum = median(rs.map((x) => Object.values(x.scenarios).reduce((t, y) => t + y.ms, 0)));
      return `${sec(sum)} / ${sec(median(rs.map((x) => x.verifyReportMs)))} / ${sec(median(rs.map((x) => x.verifyMs)))}`;
    }),
  ];
  const goal = [];
  if (runtimes.includes("compose")) {
    const v = median(results.compose.map((x) => x.verifyMs));
    goal.push(
      "",
      `Issue 12's goal, compose \`verify\` of this topology under 60 s (it was 173 s once): measured ${sec(v)} s (median), ${v < 60_000 ? "**met**" : "**not met**"}.`,
    );
  }
  const markdown = [
    table(["runtime", "create s", "verify s", "destroy s", "create / verify s per round", "verify"], totals),
    "",
    `Per scenario (median over rounds of the sum of its checks' \`durationMs\` in \`verify --json\`), seconds:`,
    "",
    table(["scenario", ...runtimes], [...scenarioRows, sumRow]),
    ...goal,
    "",
    ...notes,
  ].join("\n");
  return { markdown, runtimes };
}

// ---------------------------------------------------------------------------------------------

await run(async () => {
  const command = `node bench/startup.mjs ${process.argv.slice(2).join(" ")}`.trim();
  const cliTable = await startupPart();
  const clusters = opt["no-cluster"] ? undefined : await clusterPart();
  const markdown = [
    "## Start-up and the CLI (`bench/startup.mjs`)",
    "",
    `${opt.quick ? "**Quick run** (few rounds: indicative only). " : ""}Written ${new Date().toISOString()}, commit ${machineFacts().commit}.`,
    "",
    "```",
    `npm run build && ${command}`,
    "```",
    "",
    `Start-up: median of ${RUNS} interleaved runs of each command (after one warm-up round), wall time of the process, \`CI=true\`; validate reads \`examples/${EXAMPLE}\`.`,
    "",
    cliTable,
    ...(clusters
      ? [
          "",
          `Cluster lifecycle of \`examples/${EXAMPLE}\` (3 app nodes, 2 memcached, \`sessions.replicas: 1\`), ${ROUNDS} interleaved round${ROUNDS > 1 ? "s" : ""} per runtime, medians. ` +
            `Commands (each with \`--json\`): \`phpcluster create -f <copy of ${EXAMPLE}> --runtime <R> --timeout ${CREATE_TIMEOUT}\` (returns when every node is healthy), \`phpcluster verify\` (every default scenario), \`phpcluster destroy\`.`,
          "",
          clusters.markdown,
        ]
      : []),
  ].join("\n");
  console.log(`\n${markdown}\n`);
  if (!opt["no-write"]) {
    writeResults("startup", markdown);
    console.log("wrote bench/RESULTS.md (section startup)");
  }
});
