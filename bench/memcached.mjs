// A Memcached node's time away and copy time with 10,000 sessions of ~1 KB, on the native runtime
// (two memcached nodes, sessions.replicas 1): the memcached process SIGKILLed (its launcher
// refills a new one from the peer on a spare port, then moves it onto the real address), and a
// graceful `phpcluster restart memcachedN` (warm restart from the memory file plus a delta).
// A read-modify-write load runs on the sessions throughout and counts what it reads wrong.
// Usage: npm run build && node bench/memcached.mjs [rounds] [sessions]   (prints figures; asserts nothing)
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const rounds = Number(process.argv[2] ?? 3);
const sessions = Number(process.argv[3] ?? 10_000);
const repo = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(repo, "bin", "phpcluster.js");
const { SessionLoad, describeCounts } = await import(path.join(repo, "dist/scenarios/load.js"));
const { nativeMemoryDir } = await import(path.join(repo, "dist/runtime/memcached/config.js"));

const free = (port) =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => resolve(true)));
  });
async function portBlock(n) {
  for (;;) {
    const base = 20000 + Math.floor(Math.random() * 12000); // below the ephemeral range
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await free(p);
    if (ok) return base;
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(path.join(os.tmpdir(), "phpcluster-bench-mc-"));
chmodSync(dir, 0o755);
cpSync(path.join(repo, "examples"), dir, { recursive: true });
const file = path.join(dir, "ha-sessions.yml");
const name = "benchmc";
const port = await portBlock(6);
writeFileSync(
  file,
  readFileSync(file, "utf8")
    .replace(/name: \S+/, `name: ${name}`)
    .replace(/port: \d+/, `port: ${port}`),
);
const stateDir = path.join(dir, ".phpcluster", name);
const cli = (...args) => {
  const r = spawnSync(process.execPath, [bin, ...args, "-f", file, "--json"], { cwd: dir, encoding: "utf8" });
  return JSON.parse(r.stdout || "{}");
};
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, min: s[0], p50: q(0.5), max: s[s.length - 1] };
};
const fmt = (st) => `min ${st.min} · median ${st.p50} · max ${st.max} ms (n=${st.n})`;

const created = cli("create", "--runtime", "native");
if (!created.ok) {
  console.error(JSON.stringify(created.error ?? created, null, 2));
  process.exit(1);
}
const memory = nativeMemoryDir({ name }, stateDir);
const status = (node) => JSON.parse(readFileSync(path.join(memory, node, "status.json"), "utf8"));
async function until(what, ok, ms = 120_000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (ok()) return;
    } catch {}
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

const ctx = {
  endpoint: { host: "127.0.0.1", port },
  secret: readFileSync(path.join(stateDir, "secret"), "utf8").trim(),
  driver: { cluster: { topology: { sessions: { name: "PHPSESSID" } } } },
};
const load = new SessionLoad(ctx, { sessions, concurrency: 16, pad: 1024 });
const t0 = performance.now();
await load.open();
console.log(`${load.size} sessions of ~1 KB opened in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
load.start();

const crash = { away: [], copy: [], hold: [], copied: [] };
const graceful = { wall: [], away: [], copy: [], hold: [] };
try {
  for (let round = 0; round < rounds; round++) {
    for (const node of ["memcached1", "memcached2"]) {
      await load.run(1500);
      const before = status(node);
      process.kill(before.pid, "SIGKILL");
      await until(`${node} back`, () => {
        const s = status(node);
        return s.recoveries > before.recoveries && s.state === "serving";
      });
      const r = status(node).lastRecovery;
      crash.away.push(r.awayMs);
      crash.copy.push(r.copyMs);
      crash.hold.push(r.holdMs);
      crash.copied.push(r.copied);

      await load.run(1500);
      const tr = performance.now();
      const restarted = cli("restart", node);
      if (!restarted.ok) throw new Error(`restart ${node}: ${JSON.stringify(restarted.error)}`);
      graceful.wall.push(Math.round(performance.now() - tr));
      const g = status(node).lastRecovery;
      graceful.away.push(g.awayMs);
      graceful.copy.push(g.copyMs);
      graceful.hold.push(g.holdMs);
    }
  }
  await load.run(1500);
} finally {
  await load.stop();
}
const end = await load.check();

console.log(`\nmemcached SIGKILLed (${rounds} rounds × 2 nodes), ${sessions} sessions:`);
console.log(`  time away (kill → real address answers, filled): ${fmt(stats(crash.away))}`);
console.log(`  copy time (staging filled from the peer, deltas):  ${fmt(stats(crash.copy))}`);
console.log(`  requests held at the switch:                     ${fmt(stats(crash.hold))}`);
console.log(`  keys copied: ${stats(crash.copied).p50} (median)`);
console.log(`\nphpcluster restart memcachedN (graceful), ${sessions} sessions:`);
console.log(`  command wall time:                               ${fmt(stats(graceful.wall))}`);
console.log(`  time away (stop → real address answers, warm):   ${fmt(stats(graceful.away))}`);
console.log(`  copy time (delta from the peer):                 ${fmt(stats(graceful.copy))}`);
console.log(`  requests held at the switch:                     ${fmt(stats(graceful.hold))}`);
console.log(
  `\nload throughout: ${describeCounts(load.counts)}; at the end ${end.empty} empty, ${end.stale} stale`,
);

cli("destroy");
rmSync(dir, { recursive: true, force: true });
