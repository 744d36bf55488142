// Restarts under load: K sessions driven by C concurrent read-modify-write loops
// (bench/session-load.mjs) through phpcluster's balancer while
//   R   `phpcluster restart`: every app node one at a time (drained from the balancer, stopped
//       gracefully, started, healthy, put back), then the balancer's graceful reload
//   M1  `phpcluster restart memcached1` (a warm restart: the node is refilled from its peer)
//   M2  `phpcluster restart memcached2`
// on examples/ha-sessions.yml (3 app nodes, 2 memcached, sessions.replicas 1), native and, when a
// Docker engine answers, compose. What the users saw while the command ran: failed requests,
// sessions read empty or stale, p99 and max latency; every session read once more at the end;
// each node's time away: the command's own step durations (CI progress lines on stderr:
// `✔ restart app1 (1.2 s)`), and for app nodes the longest time none of the load's requests was
// answered by the node (X-Served-By), drain included. Cases interleaved (R M1 M2 R M1 M2 …),
// fresh sessions per case, medians of the rounds.
// Prints figures and writes the `restart` section of bench/RESULTS.md; asserts nothing.
// Usage: npm run build && node bench/restart.mjs [--quick] [--rounds N] [--sessions K]
//        [--concurrency C] [--settle S] [--runtimes native,compose] [--cases R,M1,M2] [--no-write]
import { parseArgs } from "node:util";
import { interleave, machineFacts, median, positiveInt, run, table, writeResults } from "./lib.mjs";
import {
  BASE_IMAGE,
  classify,
  cliTimedOk,
  createSessions,
  dockerUsable,
  haCluster,
  probe,
  sleep,
  startLoad,
  summarise,
} from "./session-load.mjs";

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    sessions: { type: "string", default: "50" },
    concurrency: { type: "string", default: "4" },
    settle: { type: "string" },
    runtimes: { type: "string", default: "native,compose" },
    cases: { type: "string", default: "R,M1,M2" },
    "no-write": { type: "boolean", default: false },
  },
});
const ROUNDS = positiveInt(opt.rounds ?? (opt.quick ? 1 : 5), "rounds");
const SESSIONS = positiveInt(opt.sessions, "sessions");
const CONCURRENCY = positiveInt(opt.concurrency, "concurrency");
const SETTLE_S = positiveInt(opt.settle ?? (opt.quick ? 1 : 3), "settle");

const CASES = {
  R: { args: ["restart"], what: "`phpcluster restart` (app1, app2, app3 rolling, then lb reload)" },
  M1: { args: ["restart", "memcached1"], what: "`phpcluster restart memcached1`" },
  M2: { args: ["restart", "memcached2"], what: "`phpcluster restart memcached2`" },
};

/** For each app node, the longest stretch of [from, to] in which it answered none of the load. */
function appGaps(samples, nodes, from, to) {
  const gaps = {};
  for (const node of nodes) {
    const times = samples
      .filter((s) => s.node === node && s.outcome !== "failed" && s.t1 >= from && s.t1 <= to)
      .map((s) => s.t1);
    let prev = from;
    let worst = 0;
    for (const t of [...times, to]) {
      worst = Math.max(worst, t - prev);
      prev = t;
    }
    gaps[node] = worst;
  }
  return gaps;
}

async function oneCase(c, key) {
  const sessions = await createSessions(c.lb, c.secret, SESSIONS);
  const load = startLoad({ endpoint: c.lb, secret: c.secret, sessions, concurrency: CONCURRENCY });
  await sleep(SETTLE_S * 1000);
  const cmd = await cliTimedOk(c.file, CASES[key].args);
  await sleep(SETTLE_S * 1000);
  await load.stop();
  // the end: every session once more, none may have lost its data or gone back
  const end = { ok: 0, failed: 0, empty: 0, stale: 0 };
  for (const s of sessions) end[classify(s, await probe(c.lb, c.secret, { cookie: s.id }))]++;

  const during = load.samples.filter((s) => s.t1 >= cmd.t0 && s.t0 <= cmd.t1);
  // restart <node>: stopped, started, healthy; an app node is out of the balancer from its
  // drain to its put back (the three steps' sum)
  const away = {};
  const outOfRotation = {};
  for (const st of cmd.steps) {
    const m = /^(?:restart (\S+)|drain (\S+) from the balancer|put (\S+) back)$/.exec(st.step);
    if (!m) continue;
    if (m[1]) away[m[1]] = st.ms;
    const node = m[1] ?? m[2] ?? m[3];
    if (c.apps.some((a) => a.name === node)) outOfRotation[node] = (outOfRotation[node] ?? 0) + st.ms;
  }
  const names = c.apps.map((a) => a.name);
  return {
    commandMs: cmd.wallMs,
    during: summarise(during),
    all: summarise(load.samples),
    end,
    away,
    outOfRotation,
    gaps: key === "R" ? appGaps(load.samples, names, cmd.t0, cmd.t1) : {},
  };
}

const ms = (x) =>
  x === 0
    ? "0 ms"
    : Number.isFinite(x)
      ? x < 10
        ? `${x.toFixed(1)} ms`
        : x < 1000
          ? `${x.toFixed(0)} ms`
          : `${(x / 1000).toFixed(2)} s`
      : "–";

function line(rt, key, r, x) {
  const d = x.during;
  const away = Object.entries(x.away)
    .map(([n, v]) => `${n} ${ms(v)}`)
    .join(", ");
  const gaps = Object.entries(x.gaps)
    .map(([n, v]) => `${n} ${ms(v)}`)
    .join(", ");
  const rot = Object.entries(x.outOfRotation)
    .map(([n, v]) => `${n} ${ms(v)}`)
    .join(", ");
  return `  ${rt} round ${r + 1} ${key}: ${ms(x.commandMs)}; during: failed ${d.failed} of ${d.requests}, empty ${d.empty}, stale ${d.stale}, p99 ${ms(d.p99)}, max ${ms(d.max)}; end: ${x.end.ok}/${SESSIONS} ok, empty ${x.end.empty}, stale ${x.end.stale}; restart steps: ${away}${rot ? `; drain → put back: ${rot}` : ""}${gaps ? `; not answering: ${gaps}` : ""}${Object.keys(d.errors).length ? `; ${JSON.stringify(d.errors)}` : ""}`;
}

async function benchRuntime(runtime, keys) {
  console.log(`${runtime}: creating the cluster`);
  const c = await haCluster(runtime, "brs");
  console.log(`${runtime}: ${c.name} up (lb ${c.lb.port})`);
  // warm-up: Apache's workers and OPcache
  const s = await createSessions(c.lb, c.secret, 8);
  const l = startLoad({ endpoint: c.lb, secret: c.secret, sessions: s, concurrency: CONCURRENCY });
  await sleep(1000);
  await l.stop();
  const results = await interleave(
    keys.map((k) => ({ name: k, run: () => oneCase(c, k) })),
    ROUNDS,
    { onResult: (k, r, x) => console.log(line(runtime, k, r, x)) },
  );
  return { runtime, results };
}

await run(async () => {
  const command = `node bench/restart.mjs ${process.argv.slice(2).join(" ")}`.trim();
  const keys = opt.cases.split(",").map((k) => k.trim());
  for (const k of keys) if (!CASES[k]) throw new Error(`--cases: R, M1, M2, not ${k}`);
  const notes = [];
  const all = [];
  for (const runtime of opt.runtimes.split(",").map((x) => x.trim())) {
    if (runtime === "compose") {
      const d = dockerUsable(BASE_IMAGE);
      if (!d.ok) {
        console.log(`compose: skipped, ${d.why}`);
        notes.push(`compose: not measured, ${d.why}.`);
        continue;
      }
    } else if (runtime !== "native") throw new Error(`--runtimes: native or compose, not ${runtime}`);
    all.push(await benchRuntime(runtime, keys));
  }

  const rows = [];
  for (const { runtime, results } of all) {
    for (const [key, rs] of Object.entries(results)) {
      const sum = (f) => rs.reduce((s, x) => s + f(x), 0);
      const nodes = [...new Set(rs.flatMap((x) => Object.keys(x.away)))];
      const gapNodes = [...new Set(rs.flatMap((x) => Object.keys(x.gaps)))];
      const rotNodes = [...new Set(rs.flatMap((x) => Object.keys(x.outOfRotation)))];
      rows.push([
        runtime,
        CASES[key].what,
        ms(median(rs.map((x) => x.commandMs))),
        `${sum((x) => x.during.failed)} of ${sum((x) => x.during.requests)}`,
        `${sum((x) => x.during.empty)} / ${sum((x) => x.during.stale)}`,
        `${sum((x) => x.end.empty)} / ${sum((x) => x.end.stale)} / ${sum((x) => x.end.failed)}`,
        ms(median(rs.map((x) => x.during.p99))),
        `${ms(median(rs.map((x) => x.during.max)))} (worst ${ms(Math.max(...rs.map((x) => x.during.max)))})`,
        nodes.map((n) => `${n} ${ms(median(rs.map((x) => x.away[n])))}`).join(", ") || "–",
        rotNodes.map((n) => `${n} ${ms(median(rs.map((x) => x.outOfRotation[n])))}`).join(", ") || "–",
        gapNodes.map((n) => `${n} ${ms(median(rs.map((x) => x.gaps[n])))}`).join(", ") || "–",
        [...new Set(rs.flatMap((x) => Object.keys(x.during.errors)))].join(", ") || "–",
      ]);
    }
  }
  const markdown = [
    "## Rolling restart and memcached restart under load (`bench/restart.mjs`)",
    "",
    `${opt.quick ? "**Quick run** (few rounds on a busy shared machine: indicative only). " : ""}Written ${new Date().toISOString()}, commit ${machineFacts().commit}.`,
    "",
    "```",
    `npm run build && ${command}`,
    "```",
    "",
    `\`examples/ha-sessions.yml\` (3 app nodes round-robin, 2 memcached, \`sessions.replicas: 1\`), through phpcluster's balancer. Per case: ${SESSIONS} fresh sessions (each with a nonce), ` +
      `${CONCURRENCY} concurrent Node HTTP loops doing read-modify-write on \`GET /.phpcluster/probe.php\` (a new connection per request), ${SETTLE_S} s of load, the command, ${SETTLE_S} s more, the loops stopped, then every session read once more. ` +
      `Cases interleaved (${keys.join(" ")} …), ${ROUNDS} round(s), medians; failed/empty/stale are sums over the rounds.`,
    ...notes,
    "",
    "Columns: during = the requests that overlapped the command; end = the final read of every session (empty / stale / failed); " +
      "restart step = the command's own duration of `restart <node>` (stop gracefully, start, healthy; from its CI progress lines, `CI=true`, no `--json`); " +
      "drain → put back = an app node's drain, restart and put back steps together (out of the balancer); " +
      "not answering = for app nodes, the longest time within the command that the node answered none of the load (drain, restart and put back), from `X-Served-By`. " +
      "Memcached's time away has no HTTP-side measure (the sessions are read from the other copy meanwhile): the step duration is it.",
    "",
    table(
      [
        "runtime",
        "command",
        "command time",
        "failed during",
        "empty / stale during",
        "end: empty / stale / failed",
        "p99 during",
        "max during",
        "restart step per node",
        "drain → put back",
        "not answering per node",
        "errors",
      ],
      rows,
    ),
  ].join("\n");
  console.log(`\n${markdown}\n`);
  if (!opt["no-write"]) {
    writeResults("restart", markdown);
    console.log("wrote bench/RESULTS.md (section restart)");
  }
});
