// Measures what a whole host cut off the network costs a swarm cluster: the host that holds one
// app node and one memcached node has its link set down for CUT seconds, then up; 12 sessions of
// the sample page keep requesting meanwhile (one request per session at a time). Prints, per
// run: requests during the cut, their p50/p99/max latency, failed requests, sessions with a new
// id, stale answers (a counter that did not go up by one) during the cut and the 20 s after it.
// Needs the swarm test bed (`bash .ci/swarm-bed.sh up`, as root); asserts nothing.
// Usage: npm run build && node bench/swarm-host-cut.mjs [runs] [cut seconds]
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const runs = Number(process.argv[2] ?? 3);
const cutMs = Number(process.argv[3] ?? 8) * 1000;
const repo = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(repo, "bin", "phpcluster.js");
const BED = process.env.PHPCLUSTER_BED ?? "/tmp/pcbed";
const sock = (i) => `unix://${BED}/bed${i}/docker.sock`;
const env = {
  ...process.env,
  DOCKER_HOST: sock(1),
  PHPCLUSTER_SWARM_ENGINES: [1, 2, 3].map((i) => `bed${i}=${sock(i)}`).join(","),
};

const dir = mkdtempSync(path.join(os.tmpdir(), "phpcluster-bench-cut-"));
cpSync(path.join(repo, "examples", "public"), path.join(dir, "public"), { recursive: true });
const file = path.join(dir, "phpcluster.yml");
const port = 20000 + Math.floor(Math.random() * 10000);
writeFileSync(
  file,
  `name: benchcut
runtime: swarm
balancer:
  bind: 0.0.0.0
  port: ${port}
app:
  replicas: 3
  root: ./public
sessions:
  replicas: 1
memcached:
  nodes: 2
images:
  base: phpcluster/base:bookworm
  registry: 10.77.0.11:5000/phpcluster
swarm:
  encrypted: false
`,
);
const cli = (...args) => {
  const r = spawnSync(process.execPath, [bin, "-f", file, ...args, "--json"], {
    cwd: dir,
    env,
    encoding: "utf8",
  });
  return JSON.parse(r.stdout || "{}");
};
const quantile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]) : 0;
};

function get(url, cookie) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request(url, { headers: { Cookie: cookie ?? "", Connection: "close" } }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode,
          body,
          setCookie: res.headers["set-cookie"]?.[0],
          ms: performance.now() - t0,
        }),
      );
    });
    req.on("error", (e) => resolve({ status: 0, body: e.message, ms: performance.now() - t0 }));
    req.setTimeout(30_000, () => req.destroy(new Error("timeout")));
    req.end();
  });
}

async function cutOnce(url, host) {
  const n = 12;
  const cookies = [];
  const last = [];
  const ids = [];
  const st = { cut: [], failed: 0, lost: 0, stale: 0, requests: 0 };
  let phase = "before";
  const visit = async (i) => {
    const p = await get(url, cookies[i]);
    st.requests++;
    if (p.setCookie) cookies[i] = p.setCookie.split(";")[0];
    if (phase === "cut") st.cut.push(p.ms);
    if (p.status !== 200) return void st.failed++;
    const v = Number(/Visit (\d+)/.exec(p.body)?.[1] ?? 0);
    const id = /session <code>([^<]+)<\/code>/.exec(p.body)?.[1] ?? "";
    if (ids[i] === undefined) ids[i] = id;
    else if (id !== ids[i]) {
      st.lost++;
      ids[i] = id;
    } else if (v !== (last[i] ?? 0) + 1) st.stale++;
    last[i] = v;
  };
  const rounds = async (ms) => {
    const until = Date.now() + ms;
    while (Date.now() < until) await Promise.all(Array.from({ length: n }, (_, i) => visit(i)));
  };
  await rounds(1000);
  spawnSync("ip", ["-n", host, "link", "set", "eth0", "down"]);
  phase = "cut";
  try {
    await rounds(cutMs);
  } finally {
    spawnSync("ip", ["-n", host, "link", "set", "eth0", "up"]);
  }
  phase = "after";
  await rounds(20_000);
  return st;
}

try {
  const created = cli("create");
  if (!created.ok) throw new Error(JSON.stringify(created.error));
  for (let r = 0; r < runs; r++) {
    const s = cli("status").data;
    const lbHost = s.nodes.find((x) => x.name === "lb")?.host?.hostname;
    const on = (h) => s.nodes.filter((x) => x.host?.hostname === h).map((x) => x.name);
    const host = ["bed1", "bed2", "bed3"].find(
      (h) =>
        h !== lbHost &&
        on(h).some((x) => x.startsWith("app")) &&
        on(h).some((x) => x.startsWith("memcached")),
    );
    if (!host) throw new Error(`no host with an app and a memcached node: ${JSON.stringify(s.nodes)}`);
    const st = await cutOnce(s.url, host);
    // did Swarm declare the host down and replace its tasks? A replaced task has a new address
    const after = cli("status").data;
    const addressOf = (d, name) => d?.nodes?.find((x) => x.name === name)?.address;
    const replaced = on(host).filter((name) => addressOf(after, name) !== addressOf(s, name));
    for (const name of replaced) {
      // why Swarm replaced it: each task's states and error, as the manager records them
      const ps = spawnSync(
        "docker",
        [
          "service",
          "ps",
          "--no-trunc",
          "--format",
          "{{.Name}} {{.DesiredState}} | {{.CurrentState}} | {{.Error}}",
          `benchcut_${name}`,
        ],
        { env, encoding: "utf8" },
      );
      console.log(ps.stdout.trim());
    }
    console.log(
      `run ${r + 1}: ${host} cut ${cutMs / 1000} s: ${st.cut.length} requests during the cut, latency p50 ${quantile(st.cut, 0.5)} ms, p99 ${quantile(st.cut, 0.99)} ms, max ${quantile(st.cut, 1)} ms; ${st.requests} requests in all: ${st.failed} failed, ${st.lost} lost, ${st.stale} stale; tasks replaced by Swarm: ${replaced.join(", ") || "none"}`,
    );
    // every node back before the next cut
    for (let i = 0; i < 120; i++) {
      if (cli("status").data?.nodes?.every((x) => x.state === "running")) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
} finally {
  cli("destroy");
  rmSync(dir, { recursive: true, force: true });
}
