// How phpcluster scales with the number of app nodes: for examples/ha-sessions.yml (2 memcached
// nodes, `sessions.replicas: 1`) with `app.replicas: N` (its per-node override of app3 removed),
//   render   `phpcluster validate`, `phpcluster render --runtime native` and `--runtime compose`
//            (wall time of the command; render minus validate is rendering and writing the files)
//   create   `phpcluster create` until every node is healthy
//   verify   `phpcluster verify` (every default scenario; the scenarios that grow with N shown apart)
//   memory   the resident memory of the cluster's processes, right after create (+2 s) and after
//            verify: every process in the process group of, or descended from, a pid of
//            `phpcluster status --json` (Apache's prefork children, the launcher's memcached), plus
//            on native the cluster's supervisor; the sum of VmRSS (shared pages counted in every
//            process) and of Pss (shared pages split between their users: the memory the cluster
//            really holds) from /proc. On compose also `docker stats --no-stream` (cgroup usage).
// for N = 2, 4, 8, 16, 32 on native and 2, 4, 8 on compose (when a Docker engine answers), every
// size of every runtime once per round (interleaved), medians, and the growth per app node: a
// least-squares line over the sizes and the per-step differences.
// Prints figures and writes the `scale` section of bench/RESULTS.md; asserts nothing.
// Usage: npm run build && node bench/scale.mjs [--quick] [--rounds N] [--render-rounds N]
//        [--sizes 2,4,8,16,32] [--compose-sizes 2,4,8] [--runtimes native,compose]
//        [--base IMAGE] [--no-write]
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  cli,
  defer,
  interleave,
  machineFacts,
  median,
  positiveInt,
  run,
  table,
  tempCluster,
  writeResults,
} from "./lib.mjs";

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    "render-rounds": { type: "string" },
    sizes: { type: "string" },
    "compose-sizes": { type: "string" },
    runtimes: { type: "string", default: "native,compose" },
    base: { type: "string", default: "phpcluster/base:bookworm" },
    "no-write": { type: "boolean", default: false },
  },
});
const sizes = (v, name) =>
  v.split(",").map((s) => {
    const n = positiveInt(s, name);
    if (n > 32) throw new Error(`--${name}: app.replicas is at most 32 (the schema), not ${n}`);
    return n;
  });
const ROUNDS = positiveInt(opt.rounds ?? (opt.quick ? 1 : 3), "rounds");
const RENDER_ROUNDS = positiveInt(opt["render-rounds"] ?? (opt.quick ? 3 : 7), "render-rounds");
const NATIVE_SIZES = sizes(opt.sizes ?? (opt.quick ? "2,4,8" : "2,4,8,16,32"), "sizes");
const COMPOSE_SIZES = sizes(opt["compose-sizes"] ?? (opt.quick ? "2,4" : "2,4,8"), "compose-sizes");
const MEMCACHED_NODES = 2;
const CREATE_TIMEOUT = "10m";
const SETTLE_MS = 2000;
const GROWING = ["effective-config", "kill-owner", "rolling-restart"];

const sec = (ms) => (Number.isFinite(ms) ? (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) : "–");
const mib = (kb) => (Number.isFinite(kb) ? (kb / 1024).toFixed(0) : "–");
const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// /proc

/** Every process: pid → {ppid, pgid}. */
function processTable() {
  const out = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(Number(d), { ppid: Number(f[1]), pgid: Number(f[2]) });
    } catch {} // gone meanwhile
  }
  return out;
}

/** The pids in the process group of, or descended from, each root. */
function familyOf(roots, procs = processTable()) {
  const children = new Map();
  for (const [pid, p] of procs) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(pid);
  }
  const seen = new Set();
  const stack = [];
  for (const r of roots) {
    stack.push(r);
    for (const [pid, p] of procs) if (p.pgid === r) stack.push(pid);
  }
  while (stack.length > 0) {
    const pid = stack.pop();
    if (seen.has(pid) || !procs.has(pid)) continue;
    seen.add(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return [...seen];
}

/** VmRSS and Pss of a process in kB (0 for one that is gone). */
function memoryOf(pid) {
  try {
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(rollup)?.[1] ?? 0);
    return { rss, pss: field("Pss"), uss: field("Private_Clean") + field("Private_Dirty") };
  } catch {
    return { rss: 0, pss: 0, uss: 0 };
  }
}

function memAvailableKb() {
  return Number(/^MemAvailable:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
}

/** docker stats' memory of containers, in kB ("45.2MiB / 23.5GiB"). */
function dockerStatsKb(ids) {
  if (ids.length === 0) return Number.NaN;
  const r = spawnSync("docker", ["stats", "--no-stream", "--format", "{{.MemUsage}}", ...ids], {
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.status !== 0) return Number.NaN;
  const unit = {
    B: 1 / 1024,
    KiB: 1,
    kB: 1000 / 1024,
    MiB: 1024,
    MB: 1e6 / 1024,
    GiB: 1024 ** 2,
    GB: 1e9 / 1024,
  };
  let total = 0;
  for (const line of r.stdout.trim().split("\n")) {
    const m = /^([\d.]+)\s*([A-Za-z]+)/.exec(line.trim());
    if (!m || !(m[2] in unit)) return Number.NaN;
    total += Number(m[1]) * unit[m[2]];
  }
  return total;
}

function composeContainers(project) {
  const r = spawnSync("docker", ["ps", "-q", "--filter", `label=com.docker.compose.project=${project}`], {
    encoding: "utf8",
    timeout: 30_000,
  });
  return r.status === 0 ? r.stdout.split("\n").filter(Boolean) : [];
}

/** The cluster's memory now: totals, per role, process count. */
async function clusterMemory(c, runtime) {
  const status = await cli(c.file, ["status"]);
  const nodes = status.data?.nodes ?? status.error?.details?.nodes ?? [];
  const procs = processTable();
  const byRole = {};
  let rss = 0;
  let pss = 0;
  let uss = 0;
  let count = 0;
  const add = (role, pids) => {
    byRole[role] ??= { rss: 0, pss: 0, uss: 0, processes: 0 };
    for (const pid of pids) {
      const m = memoryOf(pid);
      byRole[role].rss += m.rss;
      byRole[role].pss += m.pss;
      byRole[role].uss += m.uss;
      byRole[role].processes += 1;
      rss += m.rss;
      pss += m.pss;
      uss += m.uss;
      count += 1;
    }
  };
  for (const n of nodes) if (n.pid) add(n.role, familyOf([n.pid], procs));
  if (runtime === "native") {
    try {
      const sup = JSON.parse(readFileSync(path.join(c.stateDir, "supervisor.json"), "utf8"));
      add("supervisor", [sup.pid]);
    } catch {}
  }
  const docker = runtime === "compose" ? dockerStatsKb(composeContainers(c.name)) : Number.NaN;
  return { rss, pss, uss, processes: count, byRole, docker, nodesWithPid: nodes.filter((n) => n.pid).length };
}

// ---------------------------------------------------------------------------------------------

async function timed(file, args, opts) {
  const t0 = process.hrtime.bigint();
  const r = await cli(file, args, opts);
  return { ...r, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** ha-sessions.yml with `app.replicas: n` and no per-node override (app3 may not exist). */
const editFor = (n, runtime) => (text) => {
  let t = text.replace(/^(app:\n(?:[ \t].*\n)*?) {2}replicas: \d+$/m, `$1  replicas: ${n}`);
  t = t.replace(/^ {2}nodes:\n(?: {4,}.*\n)*/m, "");
  if (!t.includes(`  replicas: ${n}\n`) || /^ {2}nodes:\s*$/m.test(t))
    throw new Error("could not set app.replicas");
  return runtime === "compose" ? `${t.replace(/\n*$/, "\n")}images:\n  base: ${opt.base}\n` : t;
};

async function sizeCluster(runtime, n) {
  return await tempCluster({
    example: "ha-sessions.yml",
    // one name per runtime: the compose sizes share the cluster's images (built once)
    name: runtime === "native" ? "bench-sc-native" : "bench-sc-compose",
    ports: 1 + n + MEMCACHED_NODES,
    edit: editFor(n, runtime),
  });
}

/** One create, memory, verify, memory, destroy of cluster `c`. */
async function lifecycle(c, runtime) {
  let created = true;
  const destroy = async (images = false) => {
    if (!created) return Number.NaN;
    created = false;
    const r = await timed(c.file, ["destroy", ...(images ? ["--images"] : [])]);
    if (!r.ok && r.error?.code !== "NOT_CREATED") console.error(`destroy ${c.name}: ${r.error?.message}`);
    return r.ms;
  };
  const undo = defer(() => destroy(runtime === "compose"));
  try {
    const create = await timed(c.file, ["create", "--runtime", runtime, "--timeout", CREATE_TIMEOUT], {
      timeoutMs: 15 * 60_000,
    });
    if (!create.ok) throw new Error(`create ${c.name}: ${JSON.stringify(create.error)}`);
    await sleep(SETTLE_MS);
    const memCreate = await clusterMemory(c, runtime);
    const verify = await timed(c.file, ["verify"], { timeoutMs: 30 * 60_000 });
    const report = verify.ok ? verify.data : verify.error?.details?.report;
    if (!report) throw new Error(`verify ${c.name}: ${JSON.stringify(verify.error)}`);
    const memVerify = await clusterMemory(c, runtime);
    const scenarios = {};
    for (const x of report.checks) scenarios[x.scenario] = (scenarios[x.scenario] ?? 0) + (x.durationMs ?? 0);
    return {
      createMs: create.ms,
      verifyMs: verify.ms,
      verifyOk: report.ok,
      failed: report.checks.filter((x) => !x.ok).map((x) => x.name),
      scenarios,
      memCreate,
      memVerify,
      destroyMs: await destroy(),
    };
  } finally {
    await destroy();
    undo();
  }
}

/** Least squares y = a + b·x. */
function linearFit(points) {
  const ps = points.filter(([, y]) => Number.isFinite(y));
  if (ps.length < 2) return { a: Number.NaN, b: Number.NaN };
  const mx = ps.reduce((s, [x]) => s + x, 0) / ps.length;
  const my = ps.reduce((s, [, y]) => s + y, 0) / ps.length;
  const sxx = ps.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = ps.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const b = sxy / sxx;
  return { a: my - b * mx, b };
}

// ---------------------------------------------------------------------------------------------

await run(async () => {
  const command = `node bench/scale.mjs ${process.argv.slice(2).join(" ")}`.trim();
  const wanted = opt.runtimes.split(",").filter(Boolean);
  const notes = [];
  const runtimes = [];
  if (wanted.includes("native")) runtimes.push("native");
  if (wanted.includes("compose")) {
    const info = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], {
      encoding: "utf8",
      timeout: 20_000,
    });
    if (info.status !== 0) notes.push("compose: skipped, no Docker engine answers (`docker info`).");
    else if (spawnSync("docker", ["image", "inspect", opt.base], { stdio: "ignore" }).status !== 0)
      notes.push(`compose: skipped, the base image ${opt.base} is not on the engine.`);
    else {
      runtimes.push("compose");
      notes.push(
        `compose: Docker engine ${info.stdout.trim()}, \`images.base: ${opt.base}\`. Every compose size is the same cluster name, so they share its images: an untimed create and destroy of the smallest size builds them first; the last destroy removes them (\`destroy --images\`).`,
      );
    }
  }
  const sizesOf = (r) => (r === "native" ? NATIVE_SIZES : COMPOSE_SIZES);
  console.log(
    `scale: ${runtimes.map((r) => `${r} ${sizesOf(r).join(",")}`).join("; ")} app nodes; ${ROUNDS} rounds (render ${RENDER_ROUNDS})`,
  );

  // render: every size, both runtimes' files (rendering needs no engine), interleaved
  const allSizes = [
    ...new Set(wanted.flatMap((r) => (r === "compose" ? COMPOSE_SIZES : r === "native" ? NATIVE_SIZES : []))),
  ].sort((a, b) => a - b);
  const renderClusters = {};
  for (const n of allSizes) renderClusters[n] = await sizeCluster("native", n);
  const renderCases = allSizes.flatMap((n) => [
    { name: `${n} validate`, run: () => timed(renderClusters[n].file, ["validate"]) },
    { name: `${n} native`, run: () => timed(renderClusters[n].file, ["render", "--runtime", "native"]) },
    { name: `${n} compose`, run: () => timed(renderClusters[n].file, ["render", "--runtime", "compose"]) },
  ]);
  const renders = await interleave(renderCases, RENDER_ROUNDS + 1, {
    onResult: (name, _r, x) => {
      if (!x.ok) throw new Error(`${name}: ${JSON.stringify(x.error)}`);
    },
  });
  const renderMs = (key) => median(renders[key].slice(1).map((x) => x.ms)); // round 1 warms up
  const filesOf = (key) => renders[key].at(-1).data?.files?.length;
  const renderRows = allSizes.map((n) => {
    const v = renderMs(`${n} validate`);
    const nat = renderMs(`${n} native`);
    const com = renderMs(`${n} compose`);
    return [
      n,
      v.toFixed(0),
      `${nat.toFixed(0)} (+${(nat - v).toFixed(0)})`,
      `${com.toFixed(0)} (+${(com - v).toFixed(0)})`,
      `${filesOf(`${n} native`) ?? "?"} / ${filesOf(`${n} compose`) ?? "?"}`,
    ];
  });
  console.log(
    table(
      ["app nodes", "validate ms", "render native ms (− validate)", "render compose ms", "files"],
      renderRows,
    ),
  );

  // clusters: warm the compose images, then every size once per round
  const clusters = {};
  for (const r of runtimes) for (const n of sizesOf(r)) clusters[`${r} ${n}`] = await sizeCluster(r, n);
  if (runtimes.includes("compose")) {
    const c = clusters[`compose ${COMPOSE_SIZES[0]}`];
    console.log("compose: building the images (untimed create and destroy)");
    const undoImages = defer(async () => {
      await cli(c.file, ["destroy", "--images"]);
    });
    const r = await timed(c.file, ["create", "--runtime", "compose", "--timeout", CREATE_TIMEOUT], {
      timeoutMs: 20 * 60_000,
    });
    await cli(c.file, ["destroy"]);
    if (!r.ok) throw new Error(`compose warm-up create: ${JSON.stringify(r.error)}`);
    console.log(`  (warm-up create ${sec(r.ms)} s)`);
    // the images go at the very end, after every compose round (cleanups run latest first)
    undoImages();
    defer(async () => {
      await cli(c.file, ["destroy", "--images"]);
    });
  }
  const skipped = [];
  const cases = runtimes.flatMap((r) =>
    sizesOf(r).map((n) => ({
      name: `${r} ${n}`,
      run: async (round) => {
        // memory guard: from what the smaller sizes of this runtime used, this one's share
        const previous = Object.entries(results)
          .filter(([k]) => k.startsWith(`${r} `))
          .flatMap(([k, xs]) => xs.filter(Boolean).map((x) => [Number(k.split(" ")[1]), x.memVerify.rss]));
        const { a, b } = linearFit(previous);
        const needKb = Number.isFinite(b) ? a + b * n : 0;
        const available = memAvailableKb();
        if (needKb > 0 && available < 2 * needKb + 1024 ** 2) {
          skipped.push(
            `${r} ${n} (round ${round + 1}): ~${mib(needKb)} MiB expected, ${mib(available)} MiB available`,
          );
          console.log(`  skip ${r} ${n}: ${skipped.at(-1)}`);
          return undefined;
        }
        const x = await lifecycle(clusters[`${r} ${n}`], r);
        console.log(
          `  round ${round + 1} ${r} ${String(n).padStart(2)} app: create ${sec(x.createMs)} s, verify ${sec(x.verifyMs)} s${x.verifyOk ? "" : ` FAILED ${x.failed.join(", ")}`}, RSS ${mib(x.memCreate.rss)} → ${mib(x.memVerify.rss)} MiB, PSS ${mib(x.memCreate.pss)} → ${mib(x.memVerify.pss)} MiB (${x.memCreate.processes} → ${x.memVerify.processes} processes)${r === "compose" ? `, docker stats ${mib(x.memCreate.docker)} → ${mib(x.memVerify.docker)} MiB` : ""}`,
        );
        return x;
      },
    })),
  );
  const results = Object.fromEntries(cases.map((c) => [c.name, []]));
  const loadBefore = loadavg();
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) results[c.name].push(await c.run(round));
  }

  // medians per runtime and size, the fit and the steps
  const metrics = [
    ["create s", (x) => x.createMs / 1000, 2],
    ["verify s", (x) => x.verifyMs / 1000, 1],
    ...GROWING.map((s) => [`${s} s`, (x) => (x.scenarios[s] ?? Number.NaN) / 1000, 2]),
    ["RSS after create MiB", (x) => x.memCreate.rss / 1024, 0],
    ["PSS after create MiB", (x) => x.memCreate.pss / 1024, 0],
    ["RSS after verify MiB", (x) => x.memVerify.rss / 1024, 0],
    ["PSS after verify MiB", (x) => x.memVerify.pss / 1024, 0],
    ["USS after verify MiB", (x) => x.memVerify.uss / 1024, 0],
    ["processes after verify", (x) => x.memVerify.processes, 0],
    ["docker stats after verify MiB", (x) => x.memVerify.docker / 1024, 0],
  ];
  const sections = [];
  for (const r of runtimes) {
    const ns = sizesOf(r).filter((n) => results[`${r} ${n}`].some(Boolean));
    const ms = metrics.filter(([name]) => r === "compose" || !name.startsWith("docker"));
    const med = (n, f) => median(results[`${r} ${n}`].filter(Boolean).map(f));
    const rows = ms.map(([name, f, d]) => {
      const values = ns.map((n) => med(n, f));
      const { a, b } = linearFit(ns.map((n, i) => [n, values[i]]));
      const steps = ns.slice(1).map((n, i) => ((values[i + 1] - values[i]) / (n - ns[i])).toFixed(d + 1));
      return [
        name,
        ...values.map((v) => (Number.isFinite(v) ? v.toFixed(d) : "–")),
        Number.isFinite(b) ? `${b.toFixed(d + 1)} (${a < 0 ? "−" : "+"} ${Math.abs(a).toFixed(d)})` : "–",
        steps.join(", ") || "–",
      ];
    });
    const failures = ns.flatMap((n) =>
      results[`${r} ${n}`]
        .map((x, i) => (x && !x.verifyOk ? `${n} app nodes, round ${i + 1}: ${x.failed.join(", ")}` : ""))
        .filter(Boolean),
    );
    const roles = ns.map((n) => {
      const x = results[`${r} ${n}`].filter(Boolean).at(-1);
      const parts = Object.entries(x.memVerify.byRole).map(
        ([role, m]) => `${role} ${mib(m.rss)}/${mib(m.pss)}/${mib(m.uss)} MiB in ${m.processes}`,
      );
      return `- ${n} app nodes: ${parts.join("; ")}`;
    });
    sections.push(
      `### ${r}`,
      "",
      table(
        [
          "median",
          ...ns.map((n) => `${n} app`),
          "per app node (fit: slope + intercept)",
          "per app node, step by step",
        ],
        rows,
      ),
      "",
      failures.length > 0
        ? `verify failed: ${failures.join("; ")}.`
        : "verify passed every check at every size.",
      "",
      "After verify, by role (RSS/PSS/USS MiB and processes, last round):",
      "",
      ...roles,
      "",
    );
  }

  const markdown = [
    "## Scale: 2 to 32 app nodes (`bench/scale.mjs`)",
    "",
    `${opt.quick ? "**Quick run** (fewer sizes, one round: indicative only). " : ""}Written ${new Date().toISOString()}, commit ${machineFacts().commit}.`,
    "",
    "```",
    `npm run build && ${command}`,
    "```",
    "",
    `\`examples/ha-sessions.yml\` with \`app.replicas: N\` (and without its override of app3), ${MEMCACHED_NODES} memcached nodes, \`sessions.replicas: 1\`. ` +
      `Commands (each with \`-f <copy> --json\`): \`phpcluster validate\`, \`phpcluster render --runtime native|compose\`, \`phpcluster create --runtime R --timeout ${CREATE_TIMEOUT}\`, \`phpcluster status\` (the pids whose process trees are measured), \`phpcluster verify\`, \`phpcluster destroy\`. ` +
      `Memory is read ${SETTLE_MS / 1000} s after create and right after verify: the sum over the cluster's processes (each status pid's process group and descendants${runtimes.includes("native") ? "; on native also the supervisor" : ""}) of VmRSS, Pss and USS (Private_Clean + Private_Dirty) from /proc. RSS counts the pages Apache's prefork children share with their parent in every child (an upper bound); Pss splits each shared page between every process that maps it, on the whole machine (other Apache instances running here lower the cluster's share); USS is only the pages no other process maps (a lower bound: what ending the cluster frees).`,
    "",
    `Render (median of ${RENDER_ROUNDS} interleaved runs after a warm-up round, wall time of the command, so most of it is the CLI's start-up; in brackets: minus \`validate\` of the same file):`,
    "",
    table(
      [
        "app nodes",
        "validate ms",
        "render native ms (− validate)",
        "render compose ms (− validate)",
        "files native / compose",
      ],
      renderRows,
    ),
    "",
    `Clusters: ${ROUNDS} round${ROUNDS > 1 ? "s" : ""}, every size once per round (ascending), medians. Load average (1, 5, 15 min) before the rounds: ${loadBefore}; after: ${loadavg()} (${os.cpus().length} CPUs).`,
    "",
    ...sections,
    ...(skipped.length > 0 ? [`Skipped for memory: ${skipped.join("; ")}.`, ""] : []),
    ...notes,
  ].join("\n");
  console.log(`\n${markdown}\n`);
  if (!opt["no-write"]) {
    writeResults("scale", markdown);
    console.log("wrote bench/RESULTS.md (section scale)");
  }
});
