// Throughput and latency of the session path (read, lock, write in Memcached) on the native
// runtime, with wrk and bench/sessions.lua against phpcluster's probe endpoint, four targets
// measured interleaved (R D T N R D T N …), medians of the rounds:
//   R  phpcluster's rendered balancer, in front of the cluster's 3 app nodes (examples/ha-sessions.yml)
//   D  one app node directly (its Apache port): the ceiling of one node, no balancer
//   T  a hand-tuned nginx (bench/nginx-tuned.conf) in front of the same 3 app nodes
//   N  the seed recipe: nginx's defaults (bench/nginx-naive.conf) in front of a second cluster
//      whose app nodes differ only in php-memcached's lock defaults (app.ini, see NAIVE_INI)
// and two workloads: P, a pool of sessions (each request another session's cookie), and H, one
// hot session (every request carries the same cookie, so they serialise on its lock).
// Prints figures and writes the `throughput` section of bench/RESULTS.md; asserts nothing.
// Usage: npm run build && node bench/throughput.mjs [--quick] [--rounds N] [--duration S]
//        [--connections C] [--hot-connections C] [--threads T] [--sessions N] [--targets RDTN]
//        [--workloads PH] [--no-write]
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  createCluster,
  defer,
  interleave,
  machineFacts,
  median,
  parseWrk,
  portBlock,
  positiveInt,
  REPO,
  run,
  splitAddress,
  startProcess,
  table,
  tempCluster,
  writeResults,
} from "./lib.mjs";

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    connections: { type: "string", default: "32" },
    "hot-connections": { type: "string", default: "8" },
    threads: { type: "string", default: "2" },
    sessions: { type: "string", default: "200" },
    targets: { type: "string", default: "RDTN" },
    workloads: { type: "string", default: "PH" },
    "no-write": { type: "boolean", default: false },
  },
});
const ROUNDS = positiveInt(opt.rounds ?? (opt.quick ? 2 : 5), "rounds");
const DURATION = positiveInt(opt.duration ?? (opt.quick ? 3 : 10), "duration");
const WARMUP = positiveInt(opt.warmup ?? (opt.quick ? 2 : 5), "warmup");
const CONNECTIONS = positiveInt(opt.connections, "connections");
const HOT_CONNECTIONS = positiveInt(opt["hot-connections"], "hot-connections");
const THREADS = positiveInt(opt.threads, "threads");
const SESSIONS = positiveInt(opt.sessions, "sessions");
const WRK = "/usr/bin/wrk";
const LUA = path.join(REPO, "bench", "sessions.lua");
const PROBE_PATH = "/.phpcluster/probe.php";
const SECRET_HEADER = "X-Phpcluster-Secret";
const WRK_TIMEOUT = "10s";

/**
 * php-memcached's own defaults for the session lock (php -i on Debian's php-memcached 3.x):
 * what the seed recipe's app servers run with, against phpcluster's rendered 100–500 ms backoff,
 * retries that wait out lockExpire, and sess_lock_expire = lockExpire.
 */
const NAIVE_INI = {
  "memcached.sess_lock_wait_min": 150,
  "memcached.sess_lock_wait_max": 150,
  "memcached.sess_lock_retries": 5,
  "memcached.sess_lock_expire": 0,
};

const TARGETS = {
  R: "phpcluster's rendered balancer",
  D: "one app node directly (app1's Apache)",
  T: "hand-tuned nginx (bench/nginx-tuned.conf)",
  N: "seed recipe: nginx defaults + php-memcached lock defaults",
};
const WORKLOADS = {
  P: `pool of ${SESSIONS} sessions, ${CONNECTIONS} connections`,
  H: `one hot session, ${HOT_CONNECTIONS} connections`,
};

// ---------------------------------------------------------------------------------------------

/** One wrk run against `url` with the cookies of `cookieFile`; its own summary and the script's. */
function wrk({ url, cookieFile, secret, connections, seconds }) {
  const threads = Math.min(THREADS, connections);
  const args = [
    `-t${threads}`,
    `-c${connections}`,
    `-d${seconds}s`,
    "--latency",
    "--timeout",
    WRK_TIMEOUT,
    "-s",
    LUA,
    url,
    "--",
    cookieFile,
    "PHPSESSID",
    secret,
    String(threads),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(WRK, args, { stdio: ["ignore", "pipe", "pipe"] });
    const undo = defer(() => {
      try {
        process.kill(child.pid, "SIGTERM");
      } catch {}
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      undo();
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${err || out}`));
      const parsed = parseWrk(out);
      const line = /^WRKJSON (.*)$/m.exec(out);
      const script = line ? JSON.parse(line[1]) : undefined;
      resolve({
        ...parsed,
        non200: script?.non200 ?? parsed.non2xx,
        statuses: script?.statuses ?? {},
        socketErrors: parsed.socketErrors,
        // the script's percentiles are exact microseconds; wrk's text rounds to 2 decimals
        p50: script ? script.latencyUs.p50 / 1000 : parsed.latencyMs.p50,
        p99: script ? script.latencyUs.p99 / 1000 : parsed.latencyMs.p99,
        args,
      });
    });
  });
}

/** A plain GET of the probe (no keep-alive): status, Set-Cookie session id, body. */
function probe({ host, port }, secret, cookie) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host,
        port,
        path: PROBE_PATH,
        agent: false,
        headers: { [SECRET_HEADER]: secret, ...(cookie ? { Cookie: `PHPSESSID=${cookie}` } : {}) },
        timeout: 10_000,
      },
      (res) => {
        let body = "";
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => {
          const set = (res.headers["set-cookie"] ?? [])
            .map((c) => /^PHPSESSID=([^;]+)/.exec(c)?.[1])
            .find(Boolean);
          resolve({ status: res.statusCode, sessionId: set, body });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("probe timed out")));
    req.on("error", reject);
  });
}

/** `n` new sessions through the balancer, 8 at a time: their ids. */
async function createSessions(endpoint, secret, n) {
  const ids = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        next++;
        const r = await probe(endpoint, secret);
        if (r.status !== 200 || !r.sessionId) throw new Error(`creating a session: ${r.status} ${r.body}`);
        ids.push(r.sessionId);
      }
    }),
  );
  return ids;
}

/** nginx from a bench/ template, on a free port of 127.0.0.1, with its prefix under `dir`. */
async function startNginx(template, dir, servers) {
  const port = await portBlock(1);
  const prefix = path.join(dir, path.basename(template, ".conf"));
  for (const d of ["run", "logs", "temp"]) mkdirSync(path.join(prefix, d), { recursive: true });
  const conf = readFileSync(path.join(REPO, "bench", template), "utf8")
    .replace("{{LISTEN}}", `127.0.0.1:${port}`)
    .replace("{{SERVERS}}", servers.map((s) => `        server ${s};`).join("\n"));
  const file = path.join(prefix, "nginx.conf");
  writeFileSync(file, conf);
  const test = spawnSync("nginx", ["-t", "-q", "-p", prefix, "-c", file], { encoding: "utf8" });
  if (test.status !== 0) throw new Error(`nginx -t ${file}: ${test.stderr}`);
  const proc = startProcess("nginx", ["-p", prefix, "-c", file]);
  for (let i = 0; i < 100; i++) {
    if (!proc.alive()) throw new Error(`nginx ${template} exited: ${proc.stderr()}`);
    const ok = await new Promise((resolve) => {
      const req = http.get(
        { host: "127.0.0.1", port, path: "/.phpcluster/health.php", agent: false },
        (res) => {
          res.resume();
          resolve(true);
        },
      );
      req.on("error", () => resolve(false));
    });
    if (ok) return { port, pid: proc.pid, stop: proc.stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx ${template} did not answer on 127.0.0.1:${port}`);
}

async function cluster(name, edit) {
  const c = await tempCluster({ example: "ha-sessions.yml", name, ports: 8, edit });
  const status = await createCluster(c);
  const node = (n) => {
    const found = status.nodes.find((x) => x.name === n);
    if (!found) throw new Error(`${name}: no node ${n} in status`);
    return splitAddress(found.address);
  };
  const apps = status.nodes.filter((n) => n.role === "app").map((n) => n.address);
  const secret = readFileSync(path.join(c.stateDir, "secret"), "utf8").trim();
  return { ...c, status, lb: node("lb"), app1: node("app1"), apps, secret };
}

const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "–");
const ms = (x) =>
  Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0)) : "–";

await run(async () => {
  if (spawnSync(WRK, ["-v"]).error) throw new Error(`${WRK} not found: apt-get install -y wrk`);
  const targets = [...opt.targets].filter((t) => t in TARGETS);
  const workloads = [...opt.workloads].filter((w) => w in WORKLOADS);
  const command = `node bench/throughput.mjs ${process.argv.slice(2).join(" ")}`.trim();
  console.log(
    `throughput: targets ${targets.join(" ")}, workloads ${workloads.join(" ")}, ${ROUNDS} rounds × ${DURATION} s, ${THREADS} wrk threads`,
  );

  const needNaive = targets.includes("N");
  const a = await cluster("bench-tp");
  const b = needNaive
    ? await cluster("bench-tp-naive", (text) =>
        text.replace(
          /^ {2}ini:\n/m,
          `  ini:\n${Object.entries(NAIVE_INI)
            .map(([k, v]) => `    ${k}: ${v}\n`)
            .join("")}`,
        ),
      )
    : undefined;
  console.log(`clusters up: ${a.name} (lb ${a.lb.port})${b ? `, ${b.name} (lb ${b.lb.port})` : ""}`);

  // the sessions, and a cookie file per cluster and workload
  const files = {};
  for (const c of [a, b].filter(Boolean)) {
    const ids = await createSessions(c.lb, c.secret, SESSIONS + 1);
    const [hot, ...pool] = ids;
    files[c.name] = { P: path.join(c.dir, "pool.txt"), H: path.join(c.dir, "hot.txt") };
    writeFileSync(files[c.name].P, `${pool.join("\n")}\n`);
    writeFileSync(files[c.name].H, `${hot}\n`);
  }

  const endpoints = {};
  if (targets.includes("R")) endpoints.R = { ...a.lb, cluster: a };
  if (targets.includes("D")) endpoints.D = { ...a.app1, cluster: a };
  if (targets.includes("T")) {
    const t = await startNginx("nginx-tuned.conf", a.dir, a.apps);
    endpoints.T = { host: "127.0.0.1", port: t.port, cluster: a };
  }
  if (b) {
    const n = await startNginx("nginx-naive.conf", b.dir, b.apps);
    endpoints.N = { host: "127.0.0.1", port: n.port, cluster: b };
  }

  // every target answers the probe with a session before anything is measured
  for (const t of targets) {
    const e = endpoints[t];
    const cookie = readFileSync(files[e.cluster.name].H, "utf8").trim();
    const r = await probe(e, e.cluster.secret, cookie);
    if (r.status !== 200 || JSON.parse(r.body).sessionId !== cookie) {
      throw new Error(`target ${t} (${e.host}:${e.port}): ${r.status} ${r.body}`);
    }
  }

  const runOne = (t, w, seconds) => {
    const e = endpoints[t];
    return wrk({
      url: `http://${e.host}:${e.port}${PROBE_PATH}`,
      cookieFile: files[e.cluster.name][w],
      secret: e.cluster.secret,
      connections: w === "H" ? HOT_CONNECTIONS : CONNECTIONS,
      seconds,
    });
  };

  // warm-up: Apache starts its workers (StartServers 4 of 32), OPcache fills, connections open
  for (const t of targets) await runOne(t, "P", WARMUP);

  const results = {};
  for (const w of workloads) {
    console.log(`workload ${w}: ${WORKLOADS[w]}`);
    results[w] = await interleave(
      targets.map((t) => ({ name: t, run: () => runOne(t, w, DURATION) })),
      ROUNDS,
      {
        onResult: (t, r, x) =>
          console.log(
            `  round ${r + 1} ${t}: ${fmt(x.rps)} req/s  p50 ${ms(x.p50)} ms  p99 ${ms(x.p99)} ms  non-200 ${x.non200}  socket errors ${Object.values(x.socketErrors).reduce((s, v) => s + v, 0)}`,
          ),
      },
    );
  }

  // medians per target and workload, and the ratios
  const summary = {};
  for (const w of workloads) {
    summary[w] = {};
    for (const t of targets) {
      const rs = results[w][t];
      const sock = rs.reduce(
        (s, x) => {
          for (const k of Object.keys(s)) s[k] += x.socketErrors[k];
          return s;
        },
        { connect: 0, read: 0, write: 0, timeout: 0 },
      );
      const statuses = {};
      for (const x of rs)
        for (const [k, v] of Object.entries(x.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
      summary[w][t] = {
        rps: median(rs.map((x) => x.rps)),
        p50: median(rs.map((x) => x.p50)),
        p99: median(rs.map((x) => x.p99)),
        requests: rs.reduce((s, x) => s + x.requests, 0),
        non200: rs.reduce((s, x) => s + x.non200, 0),
        statuses,
        socket: sock,
        perRound: rs.map((x) => Math.round(x.rps)),
      };
    }
  }

  const lines = [];
  const rows = [];
  for (const w of workloads) {
    for (const t of targets) {
      const s = summary[w][t];
      const sockets = Object.entries(s.socket)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ");
      const codes = Object.entries(s.statuses)
        .map(([k, v]) => `${k}×${v}`)
        .join(" ");
      rows.push([
        w,
        `${t}: ${TARGETS[t]}`,
        fmt(s.rps),
        ms(s.p50),
        ms(s.p99),
        `${s.non200}${codes ? ` (${codes})` : ""} of ${s.requests}`,
        sockets || "0",
        s.perRound.join(" "),
      ]);
    }
  }
  const ratioRows = [];
  for (const w of workloads) {
    const s = summary[w];
    for (const other of ["T", "D", "N"]) {
      if (!s.R || !s[other]) continue;
      ratioRows.push([
        w,
        `R/${other}`,
        (s.R.rps / s[other].rps).toFixed(2),
        (s.R.p50 / s[other].p50).toFixed(2),
        (s.R.p99 / s[other].p99).toFixed(2),
      ]);
    }
  }
  lines.push(
    `## Throughput and latency of the session path (\`bench/throughput.mjs\`)`,
    "",
    `${opt.quick ? "**Quick run** (short rounds: indicative only). " : ""}Written ${new Date().toISOString()}, commit ${machineFacts().commit}.`,
    "",
    "```",
    `npm run build && ${command}`,
    "```",
    "",
    `Native runtime, \`examples/ha-sessions.yml\` (3 app nodes, 2 memcached, \`sessions.replicas: 1\`). ` +
      `The request: \`GET ${PROBE_PATH}\` with the probe secret and a session cookie (session read, lock, ` +
      "counter increment, write to both memcached nodes, unlock). " +
      `${ROUNDS} interleaved rounds of ${DURATION} s per target (after a ${WARMUP} s warm-up each), medians; ` +
      `wrk ${THREADS} threads, \`--timeout ${WRK_TIMEOUT}\`, \`-s bench/sessions.lua\`. Load generator, balancers and nodes share the machine's cores.`,
    "",
    `wrk, per run: \`wrk -t${THREADS} -c<C> -d${DURATION}s --latency --timeout ${WRK_TIMEOUT} -s bench/sessions.lua http://127.0.0.1:<port>${PROBE_PATH} -- <cookie file> PHPSESSID <secret> ${THREADS}\` ` +
      `(C = ${CONNECTIONS} for P, ${HOT_CONNECTIONS} for H).`,
    "",
    `Workloads: P = ${WORKLOADS.P}; H = ${WORKLOADS.H}.`,
    `N's app nodes are a second cluster, identical but for app.ini ${Object.entries(NAIVE_INI)
      .map(([k, v]) => `\`${k}=${v}\``)
      .join(", ")} (php-memcached's defaults).`,
    "",
    table(
      ["workload", "target", "req/s", "p50 ms", "p99 ms", "non-200", "socket errors", "req/s per round"],
      rows,
    ),
    "",
    table(["workload", "ratio", "req/s", "p50", "p99"], ratioRows),
  );
  const markdown = lines.join("\n");
  console.log(`\n${markdown}\n`);
  if (!opt["no-write"]) {
    writeResults("throughput", markdown);
    console.log("wrote bench/RESULTS.md (section throughput)");
  }
});
