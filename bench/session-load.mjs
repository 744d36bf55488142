// The session load of bench/failover.mjs and bench/restart.mjs, on top of bench/lib.mjs: K
// sessions, each with a nonce, driven by C concurrent Node HTTP loops doing read-modify-write on
// phpcluster's probe (GET /.phpcluster/probe.php: the session is read, its counter incremented
// and written back). A session is in one loop's hands at a time, so its counter is known: every
// answer is classified against the last counter the client saw written:
//   ok      200, same session, nonce intact, counter > the last one seen
//   failed  not 200, or no HTTP answer (refused, reset, timed out)
//   empty   200 but the session came back without its data (another id, no nonce, counter 1)
//   stale   200 with the data, but a counter not above the last one seen (an older copy)
// A failed request may still have written (the client cannot know), so after one the next
// counter may jump by 2: that is ok, not stale. Also the clusters both scripts use (native and
// compose), the CLI with its step timings, and the docker calls (argument arrays, by id).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import {
  cli,
  cliPlain,
  collect,
  createCluster,
  defer,
  percentile,
  splitAddress,
  tempCluster,
} from "./lib.mjs";

export const PROBE_PATH = "/.phpcluster/probe.php";
const SECRET_HEADER = "X-Phpcluster-Secret";
export const COOKIE = "PHPSESSID";
/** Every load request gives up after this long (nginx's default proxy_connect_timeout is 60 s). */
export const REQUEST_TIMEOUT_MS = 90_000;

/** One GET of the probe on a new connection: status, X-Served-By, the parsed body, timings. */
export function probe(endpoint, secret, { cookie, nonce, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const done = (r) => resolve({ t0, t1: performance.now(), ms: performance.now() - t0, ...r });
    const req = http.get(
      {
        host: endpoint.host,
        port: endpoint.port,
        path: nonce ? `${PROBE_PATH}?nonce=${nonce}` : PROBE_PATH,
        agent: false,
        headers: {
          [SECRET_HEADER]: secret,
          Connection: "close",
          ...(cookie ? { Cookie: `${COOKIE}=${cookie}` } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          text += d;
        });
        res.on("error", (e) => done({ status: 0, error: e.message, body: {} }));
        res.on("end", () => {
          let body = {};
          try {
            body = JSON.parse(text);
          } catch {}
          const served = res.headers["x-served-by"];
          done({ status: res.statusCode ?? 0, node: typeof served === "string" ? served : body.node, body });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (e) => done({ status: 0, error: e.code ?? e.message, body: {} }));
  });
}

/** `n` new sessions (each with its nonce written), 8 at a time: [{id, nonce, counter}]. */
export async function createSessions(endpoint, secret, n) {
  const sessions = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(8, n) }, async () => {
      while (next < n) {
        next++;
        const nonce = randomBytes(8).toString("hex");
        const r = await probe(endpoint, secret, { nonce, timeoutMs: 10_000 });
        if (r.status !== 200 || !r.body.sessionId || r.body.nonce !== nonce) {
          throw new Error(`creating a session: ${r.status} ${r.error ?? JSON.stringify(r.body)}`);
        }
        sessions.push({ id: r.body.sessionId, nonce, counter: r.body.counter });
      }
    }),
  );
  return sessions;
}

/** What an answer means for `session` (see the top of this file). */
export function classify(session, r) {
  if (r.status !== 200) return "failed";
  const b = r.body;
  if (b.sessionId !== session.id || b.nonce !== session.nonce || b.counter === 1) return "empty";
  if (!(b.counter > session.counter)) return "stale";
  return "ok";
}

/**
 * Start `concurrency` loops over `sessions` against `endpoint`. Returns {samples, stop}: every
 * sample is {t0, t1, ms, outcome, node, status, error, session}; stop() ends the loops after
 * their request in flight and resolves when all have ended. Sessions hold their last counter.
 */
export function startLoad({ endpoint, secret, sessions, concurrency }) {
  const samples = [];
  let stopping = false;
  let next = 0;
  const queue = [...sessions];
  const loop = async () => {
    while (!stopping) {
      const s = queue[next++ % queue.length];
      if (s.busy) {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      s.busy = true;
      const r = await probe(endpoint, secret, { cookie: s.id });
      const outcome = classify(s, r);
      if (outcome === "ok" || outcome === "stale") s.counter = Math.max(s.counter, r.body.counter);
      if (outcome === "empty" && r.body.sessionId && r.body.sessionId !== s.id) {
        // the old id is gone: follow the new one, so one loss is counted once
        s.id = r.body.sessionId;
        s.counter = r.body.counter;
      }
      s.busy = false;
      samples.push({
        t0: r.t0,
        t1: r.t1,
        ms: r.ms,
        outcome,
        node: r.node,
        status: r.status,
        error: r.error ?? r.body.error,
        session: s.id,
      });
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  const stop = async () => {
    stopping = true;
    await Promise.all(loops);
  };
  const undo = defer(stop);
  return {
    samples,
    stop: async () => {
      undo();
      await stop();
    },
  };
}

/** Counts and latency of samples (the failed ones' latency included: a hang is a wait). */
export function summarise(samples) {
  const count = { ok: 0, failed: 0, empty: 0, stale: 0 };
  for (const s of samples) count[s.outcome]++;
  const ms = samples.map((s) => s.ms);
  const errors = {};
  for (const s of samples.filter((x) => x.outcome === "failed")) {
    const k = s.status ? `HTTP ${s.status}` : (s.error ?? "error");
    errors[k] = (errors[k] ?? 0) + 1;
  }
  return {
    requests: samples.length,
    ...count,
    sessionsHit: new Set(samples.filter((s) => s.outcome !== "ok").map((s) => s.session)).size,
    p50: percentile(ms, 0.5),
    p99: percentile(ms, 0.99),
    max: ms.length ? Math.max(...ms) : Number.NaN,
    errors,
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The CLI with its progress lines: in CI mode (not --json, which keeps progress quiet) every step
// ends as one line `✔ <step> (<n> ms)` (or `(1.2 s)`) on stderr: a restart's per-node durations.

/** `phpcluster <args> -f file` in CI mode: ok (exit 0), its wall time and the steps' durations. */
export async function cliTimed(file, args, opts) {
  const { code, stdout, stderr, t0, t1 } = await cliPlain(file, args, opts);
  const steps = [];
  for (const m of stderr.matchAll(/^\s*✔ (.+?) \((\d+(?:\.\d+)?) (ms|s|min)\)\s*$/gm)) {
    steps.push({ step: m[1], ms: Number(m[2]) * { ms: 1, s: 1000, min: 60_000 }[m[3]] });
  }
  const ok = code === 0;
  const error = ok ? undefined : { exitCode: code, message: `${stderr}\n${stdout}`.trim().slice(-2000) };
  return { ok, exitCode: code, error, t0, t1, wallMs: t1 - t0, steps, stdout, stderr };
}

export async function cliTimedOk(file, args, opts) {
  const r = await cliTimed(file, args, opts);
  if (!r.ok) throw new Error(`phpcluster ${args.join(" ")}: ${JSON.stringify(r.error)}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Docker (argument arrays; containers by the ids of what this benchmark created)

export function docker(args, { allowFail = false, timeoutMs = 120_000 } = {}) {
  const r = spawnSync("docker", args, { encoding: "utf8", timeout: timeoutMs });
  if (!allowFail && r.status !== 0) {
    throw new Error(`docker ${args.join(" ")}: ${(r.stderr || r.error?.message || "").trim()}`);
  }
  return (r.stdout ?? "").trim();
}

/** `docker` without blocking the event loop (a load running meanwhile keeps its timings). */
export async function dockerAsync(args, { timeoutMs = 120_000 } = {}) {
  const r = await collect("docker", args, { timeoutMs });
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Whether a Docker engine answers and the compose runtime's base image is here. */
export function dockerUsable(baseImage) {
  const info = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], {
    encoding: "utf8",
    timeout: 15_000,
  });
  if (info.status !== 0) return { ok: false, why: "no Docker engine answers (docker info)" };
  const img = spawnSync("docker", ["image", "inspect", baseImage], { encoding: "utf8", timeout: 15_000 });
  if (img.status !== 0) return { ok: false, why: `the base image ${baseImage} is not here` };
  return { ok: true, version: info.stdout.trim() };
}

/** The container id of compose project `project`'s service `service`. */
export function containerOf(project, service) {
  const id = docker([
    "ps",
    "-aq",
    "--filter",
    `label=com.docker.compose.project=${project}`,
    "--filter",
    `label=com.docker.compose.service=${service}`,
  ]);
  if (!id || id.includes("\n")) throw new Error(`${project}/${service}: container "${id}"`);
  return id;
}

// ---------------------------------------------------------------------------------------------
// Clusters

export const BASE_IMAGE = "phpcluster/base:bookworm";

/**
 * examples/ha-sessions.yml (3 app nodes round-robin, 2 memcached, sessions.replicas 1) as a
 * temporary cluster on `runtime`, created; compose builds FROM phpcluster/base:bookworm.
 * Returns the cluster, its status, the balancer endpoint, the app nodes and the secret.
 */
export async function haCluster(runtime, prefix) {
  const name = `${prefix}-${runtime === "compose" ? "c" : "n"}${randomBytes(2).toString("hex")}`;
  const c = await tempCluster({
    example: "ha-sessions.yml",
    name,
    ports: 8,
    edit: (text) => (runtime === "compose" ? `${text.trimEnd()}\nimages:\n  base: ${BASE_IMAGE}\n` : text),
  });
  // compose: the images this create builds are removed too, after lib's destroy (cleanups run
  // latest first), so that runs under fresh names do not pile images up
  if (runtime === "compose") defer(() => cli(c.file, ["destroy", "--images"]));
  const status = await createCluster(c, ["--runtime", runtime]);
  const lbNode = status.nodes.find((n) => n.name === "lb");
  const lb = runtime === "compose" ? { host: "127.0.0.1", port: c.port } : splitAddress(lbNode.address);
  const apps = status.nodes.filter((n) => n.role === "app");
  const secret = readFileSync(path.join(c.stateDir, "secret"), "utf8").trim();
  return { ...c, runtime, status, lb, apps, secret };
}
