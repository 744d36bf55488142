// The failover gap under load: K sessions driven by C concurrent read-modify-write loops
// (bench/session-load.mjs) through a balancer, an app node SIGKILLed in the middle, and what the
// users saw: failed requests, the time from the kill to the first good answer to a request sent
// after it, until the last disturbed answer (failed, or slower than --slow), the worst latency,
// sessions read empty or stale. Two balancers in front of the same three app nodes
// (examples/ha-sessions.yml), interleaved (A B A B …), medians of the rounds:
//   A  phpcluster's rendered balancer (connectTimeout 1s, max_fails 1, its fallback upstream)
//   B  the naive recipe: nginx's defaults (bench/nginx-naive.conf: proxy_connect_timeout 60 s)
// on the native runtime (B: an nginx on 127.0.0.1), and on compose when a Docker engine answers
// (B: an nginx container, from the cluster's own lb image, on the cluster's backend network).
// The kill is the benchmark's own, not `phpcluster failover` (whose kill time is not exposed):
// native: SIGKILL to the process group of the node's pid from `phpcluster status --json`;
// compose: `docker kill -s KILL <container id>`. Each round gets fresh sessions; afterwards
// `phpcluster up` starts the node again and both balancers are reloaded (max_fails forgotten).
// Prints figures and writes the `failover` section of bench/RESULTS.md; asserts nothing.
// Usage: npm run build && node bench/failover.mjs [--quick] [--rounds N] [--sessions K]
//        [--concurrency C] [--before S] [--after S] [--slow MS] [--runtimes native,compose]
//        [--no-write]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  cliOk,
  defer,
  interleave,
  machineFacts,
  median,
  portBlock,
  positiveInt,
  REPO,
  run,
  startProcess,
  table,
  writeResults,
} from "./lib.mjs";
import {
  BASE_IMAGE,
  containerOf,
  createSessions,
  docker,
  dockerAsync,
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
    before: { type: "string" },
    after: { type: "string" },
    slow: { type: "string", default: "1000" },
    runtimes: { type: "string", default: "native,compose" },
    "no-write": { type: "boolean", default: false },
  },
});
const ROUNDS = positiveInt(opt.rounds ?? (opt.quick ? 2 : 5), "rounds");
const SESSIONS = positiveInt(opt.sessions, "sessions");
const CONCURRENCY = positiveInt(opt.concurrency, "concurrency");
const BEFORE_S = positiveInt(opt.before ?? (opt.quick ? 1 : 3), "before");
const AFTER_S = positiveInt(opt.after ?? (opt.quick ? 5 : 10), "after");
const SLOW_MS = positiveInt(opt.slow, "slow");

const CASES = {
  A: "phpcluster's rendered balancer",
  B: "naive recipe: nginx defaults (bench/nginx-naive.conf)",
};

// ---------------------------------------------------------------------------------------------
// The naive balancer

/** bench/nginx-naive.conf filled in, under `dir`/naive. */
function naiveConf(dir, listen, servers) {
  const prefix = path.join(dir, "naive");
  for (const d of ["run", "logs", "temp"]) mkdirSync(path.join(prefix, d), { recursive: true, mode: 0o777 });
  const conf = readFileSync(path.join(REPO, "bench", "nginx-naive.conf"), "utf8")
    .replace("{{LISTEN}}", listen)
    .replace("{{SERVERS}}", servers.map((s) => `        server ${s};`).join("\n"));
  writeFileSync(path.join(prefix, "nginx.conf"), conf);
  return prefix;
}

async function waitAnswers(endpoint, secret, what) {
  for (let i = 0; i < 200; i++) {
    const r = await probe(endpoint, secret, { timeoutMs: 2000 });
    if (r.status === 200) return;
    await sleep(50);
  }
  throw new Error(`${what} does not answer on ${endpoint.host}:${endpoint.port}`);
}

/** Native: nginx on 127.0.0.1 in front of the app nodes' addresses; reload = SIGHUP to its pid. */
async function naiveNative(c) {
  const port = await portBlock(1);
  const prefix = naiveConf(
    c.dir,
    `127.0.0.1:${port}`,
    c.apps.map((a) => a.address),
  );
  const proc = startProcess("nginx", ["-p", prefix, "-c", path.join(prefix, "nginx.conf")]);
  const endpoint = { host: "127.0.0.1", port };
  await waitAnswers(endpoint, c.secret, "the naive nginx");
  return {
    endpoint,
    how: `\`nginx -p <tmp> -c <tmp>/nginx.conf\` (bench/nginx-naive.conf) on 127.0.0.1:<free port>, upstream = the app nodes' 127.0.0.1 ports`,
    reload: () => process.kill(proc.pid, "SIGHUP"),
  };
}

/**
 * Compose: the backend network is internal (the host cannot reach it), so the naive nginx is a
 * container of the cluster's own lb image (same nginx build as A), on the project's frontend
 * network with a port published on 127.0.0.1, connected to the backend network, its upstream
 * the app containers' static addresses. Removed (by id) at cleanup.
 */
async function naiveCompose(c) {
  const port = await portBlock(1);
  const lbId = containerOf(c.name, "lb");
  const nets = Object.keys(
    JSON.parse(docker(["inspect", "--format", "{{json .NetworkSettings.Networks}}", lbId])),
  );
  const backend = nets.find((n) => n.endsWith("_backend"));
  const frontend = nets.find((n) => n.endsWith("_frontend"));
  if (!backend || !frontend) throw new Error(`lb's networks: ${nets.join(", ")}`);
  const image = docker(["inspect", "--format", "{{.Config.Image}}", lbId]);
  const prefix = naiveConf(
    c.dir,
    "80",
    c.apps.map((a) => a.address),
  );
  const id = docker([
    "create",
    "--network",
    frontend,
    "-p",
    `127.0.0.1:${port}:80`,
    "-v",
    `${prefix}:/bench`,
    "--entrypoint",
    "nginx",
    image,
    "-p",
    "/bench",
    "-c",
    "/bench/nginx.conf",
  ]);
  defer(() => docker(["rm", "-f", "-v", id], { allowFail: true }));
  docker(["network", "connect", backend, id]);
  docker(["start", id]);
  const endpoint = { host: "127.0.0.1", port };
  await waitAnswers(endpoint, c.secret, "the naive nginx container");
  return {
    endpoint,
    how: `a container of the cluster's lb image (\`docker create --network <project>_frontend -p 127.0.0.1:<port>:80 -v <tmp>:/bench --entrypoint nginx <lb image> -p /bench -c /bench/nginx.conf\`, then \`docker network connect <project>_backend\`), upstream = the app containers' static addresses`,
    reload: () => docker(["kill", "-s", "HUP", id]),
  };
}

// ---------------------------------------------------------------------------------------------
// One round: fresh sessions, load, kill the serving node, load on, stop, restore

/**
 * SIGKILL `node`: {t, commandMs}, t = when the kill was sent (native) or `docker kill` started
 * (the container is dead when it returns, commandMs later). Nothing here blocks the event loop.
 */
async function killNode(c, node, containers) {
  if (c.runtime === "native") {
    const status = await cliOk(c.file, ["status"]);
    const pid = status.nodes.find((n) => n.name === node)?.pid;
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no pid for ${node}`);
    const t = performance.now();
    process.kill(-pid, "SIGKILL"); // the node's process group (it leads it: the supervisor starts it detached)
    return { t, commandMs: 0 };
  }
  const t = performance.now();
  await dockerAsync(["kill", "-s", "KILL", containers[node]]);
  return { t, commandMs: performance.now() - t };
}

async function round(c, endpoint, restoreBalancers) {
  // compose: the app containers' ids, read before the load runs (docker ps here blocks the loop)
  const containers =
    c.runtime === "compose"
      ? Object.fromEntries(c.apps.map((a) => [a.name, containerOf(c.name, a.name)]))
      : {};
  const sessions = await createSessions(endpoint, c.secret, SESSIONS);
  const load = startLoad({ endpoint, secret: c.secret, sessions, concurrency: CONCURRENCY });
  await sleep(BEFORE_S * 1000);
  const last = [...load.samples].reverse().find((s) => s.outcome === "ok" && s.node);
  if (!last) throw new Error(`no good answer before the kill: ${JSON.stringify(summarise(load.samples))}`);
  const victim = last.node;
  const { t: tk, commandMs: killCommandMs } = await killNode(c, victim, containers);
  await sleep(AFTER_S * 1000);
  await load.stop(); // waits for the requests in flight (each bounded by REQUEST_TIMEOUT_MS)
  const tEnd = performance.now();
  await cliOk(c.file, ["up"]);
  await restoreBalancers();

  const before = load.samples.filter((s) => s.t1 <= tk);
  const after = load.samples.filter((s) => s.t1 > tk);
  const firstGood = after.filter((s) => s.t0 >= tk && s.outcome === "ok").sort((a, b) => a.t1 - b.t1)[0];
  const disturbed = after.filter((s) => s.outcome !== "ok" || s.ms > SLOW_MS);
  return {
    victim,
    killCommandMs,
    // a sanity check: requests sent after the kill that the killed node answered (expect 0)
    victimAnswered: after.filter((s) => s.t0 > tk && s.node === victim).length,
    before: summarise(before),
    after: summarise(after),
    firstGoodMs: firstGood ? firstGood.t1 - tk : Number.NaN,
    lastDisturbedMs: disturbed.length ? Math.max(...disturbed.map((s) => s.t1)) - tk : 0,
    windowMs: tEnd - tk,
  };
}

// ---------------------------------------------------------------------------------------------

const ms = (x) =>
  x === 0
    ? "0"
    : Number.isFinite(x)
      ? x < 10
        ? x.toFixed(1)
        : x < 1000
          ? x.toFixed(0)
          : `${(x / 1000).toFixed(2)} s`
      : "–";
const msCell = (x) => (Number.isFinite(x) && x >= 1000 ? ms(x) : `${ms(x)} ms`);

function line(rt, name, r, x) {
  const a = x.after;
  return `  ${rt} round ${r + 1} ${name}: killed ${x.victim}${x.killCommandMs ? ` (docker kill ${msCell(x.killCommandMs)})` : ""} (answered ${x.victimAnswered} after); failed ${a.failed} of ${a.requests}, empty ${a.empty}, stale ${a.stale}; first good ${msCell(x.firstGoodMs)}, last disturbed ${msCell(x.lastDisturbedMs)}, max ${msCell(a.max)}, p99 ${msCell(a.p99)} (before: p99 ${msCell(x.before.p99)})${Object.keys(a.errors).length ? `; ${JSON.stringify(a.errors)}` : ""}`;
}

async function benchRuntime(runtime) {
  console.log(`${runtime}: creating the cluster`);
  const c = await haCluster(runtime, "bfo");
  const naive = runtime === "native" ? await naiveNative(c) : await naiveCompose(c);
  console.log(`${runtime}: ${c.name} up (lb ${c.lb.port}), naive balancer on ${naive.endpoint.port}`);
  const restoreBalancers = async () => {
    await cliOk(c.file, ["restart", "lb"]);
    naive.reload();
    await sleep(1000);
  };
  // warm-up: Apache's workers and OPcache, through both balancers
  for (const e of [c.lb, naive.endpoint]) {
    const s = await createSessions(e, c.secret, 8);
    const l = startLoad({ endpoint: e, secret: c.secret, sessions: s, concurrency: CONCURRENCY });
    await sleep(1000);
    await l.stop();
  }
  const results = await interleave(
    [
      { name: "A", run: () => round(c, c.lb, restoreBalancers) },
      { name: "B", run: () => round(c, naive.endpoint, restoreBalancers) },
    ],
    ROUNDS,
    { onResult: (name, r, x) => console.log(line(runtime, name, r, x)) },
  );
  return { runtime, how: naive.how, results };
}

await run(async () => {
  const command = `node bench/failover.mjs ${process.argv.slice(2).join(" ")}`.trim();
  const wanted = opt.runtimes.split(",").map((s) => s.trim());
  const notes = [];
  const all = [];
  for (const runtime of wanted) {
    if (runtime === "compose") {
      const d = dockerUsable(BASE_IMAGE);
      if (!d.ok) {
        console.log(`compose: skipped, ${d.why}`);
        notes.push(`compose: not measured, ${d.why}.`);
        continue;
      }
    } else if (runtime !== "native") throw new Error(`--runtimes: native or compose, not ${runtime}`);
    all.push(await benchRuntime(runtime));
  }

  const rows = [];
  for (const { runtime, results } of all) {
    for (const [name, rs] of Object.entries(results)) {
      const sum = (f) => rs.reduce((s, x) => s + f(x), 0);
      rows.push([
        runtime,
        `${name}: ${CASES[name]}`,
        `${sum((x) => x.after.failed)} of ${sum((x) => x.after.requests)} (${rs.map((x) => x.after.failed).join(" ")})`,
        msCell(median(rs.map((x) => x.firstGoodMs))),
        `${msCell(median(rs.map((x) => x.lastDisturbedMs)))} (${rs.map((x) => ms(x.lastDisturbedMs)).join(", ")})`,
        `${msCell(median(rs.map((x) => x.after.max)))} (worst ${msCell(Math.max(...rs.map((x) => x.after.max)))})`,
        msCell(median(rs.map((x) => x.after.p99))),
        msCell(median(rs.map((x) => x.before.p99))),
        `${sum((x) => x.after.empty)} / ${sum((x) => x.after.stale)}`,
        [...new Set(rs.flatMap((x) => Object.keys(x.after.errors)))].join(", ") || "–",
      ]);
    }
  }
  const markdown = [
    "## Failover gap under load (`bench/failover.mjs`)",
    "",
    `${opt.quick ? "**Quick run** (few short rounds on a busy shared machine: indicative only). " : ""}Written ${new Date().toISOString()}, commit ${machineFacts().commit}.`,
    "",
    "```",
    `npm run build && ${command}`,
    "```",
    "",
    `\`examples/ha-sessions.yml\` (3 app nodes round-robin, 2 memcached, \`sessions.replicas: 1\`). Per round: ${SESSIONS} fresh sessions (each with a nonce), ` +
      `${CONCURRENCY} concurrent Node HTTP loops doing read-modify-write on \`GET /.phpcluster/probe.php\` (a new connection per request, ${90} s client timeout), ` +
      `${BEFORE_S} s of load, then SIGKILL of the app node that served the latest good answer, ${AFTER_S} s more load, then the loops stop after their requests in flight. ` +
      "Native: the kill is `kill -KILL -<pgid>` of the node's pid from `phpcluster status --json`; compose: `docker kill -s KILL <container id>` (not `phpcluster failover`, so the kill time is the benchmark's own). " +
      "After each round `phpcluster up` starts the node again, `phpcluster restart lb` and a SIGHUP of the naive nginx clear max_fails. " +
      `Cases interleaved (A B A B …), ${ROUNDS} rounds, medians (per-round values in brackets).`,
    "",
    ...all.map((x) => `Naive balancer, ${x.runtime}: ${x.how}.`),
    "Compose: the times run from the start of `docker kill`, which here takes up to ~2 s, and the container still answers meanwhile (the log's `answered N after`): the first good answer is then no gap. " +
      "Whether a connect to the killed container's address black-holes (nginx waits proxy_connect_timeout, 60 s by default) or fails at once varied between runs here: a development run of B hung 60.07 s with every loop stuck on it, other runs saw no hang; more rounds tell.",
    ...notes,
    "",
    `Columns (all over the requests that ended after the kill): failed = not 200 or no HTTP answer; first good = kill → the first 200 with the session intact to a request sent after the kill; ` +
      `last disturbed = kill → the end of the last request that failed, read its session empty or stale, or took over ${SLOW_MS} ms; empty / stale = sessions read without their data / with a counter older than their last write.`,
    "",
    table(
      [
        "runtime",
        "balancer",
        "failed",
        "first good",
        "last disturbed",
        "max latency",
        "p99 after kill",
        "p99 before",
        "empty / stale",
        "errors",
      ],
      rows,
    ),
  ].join("\n");
  console.log(`\n${markdown}\n`);
  if (!opt["no-write"]) {
    writeResults("failover", markdown);
    console.log("wrote bench/RESULTS.md (section failover)");
  }
});
