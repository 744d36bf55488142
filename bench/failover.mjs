// Measures `phpcluster failover`'s time to the first good response after the node serving a
// session is killed (SIGKILL of its process group) or stopped, on the native runtime.
// Usage: npm run build && node bench/failover.mjs [runs]   (prints figures; asserts nothing)
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const runs = Number(process.argv[2] ?? 10);
const repo = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(repo, "bin", "phpcluster.js");

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

const dir = mkdtempSync(path.join(os.tmpdir(), "phpcluster-bench-"));
chmodSync(dir, 0o755);
cpSync(path.join(repo, "examples"), dir, { recursive: true });
const file = path.join(dir, "basic.yml");
const port = await portBlock(4);
writeFileSync(
  file,
  readFileSync(file, "utf8")
    .replace(/name: \S+/, "name: bench")
    .replace(/port: \d+/, `port: ${port}`),
);

const cli = (...args) => {
  const r = spawnSync(process.execPath, [bin, ...args, "-f", file, "--json"], { cwd: dir, encoding: "utf8" });
  return JSON.parse(r.stdout || "{}");
};
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, min: s[0], p50: q(0.5), p90: q(0.9), max: s[s.length - 1] };
};

try {
  const t0 = performance.now();
  const created = cli("create", "--runtime", "native");
  if (!created.ok) throw new Error(JSON.stringify(created.error));
  console.log(`create: ${Math.round(performance.now() - t0)} ms`);
  for (const mode of ["kill", "stop"]) {
    const times = [];
    for (let i = 0; i < runs; i++) {
      const r = cli("failover", "--mode", mode);
      if (!r.ok) throw new Error(`failover ${mode}: ${JSON.stringify(r.error)}`);
      times.push(r.data.timeToFirstGoodMs);
    }
    const s = stats(times);
    console.log(
      `failover --mode ${mode}: time to first good response over ${s.n} runs: min ${s.min} ms, p50 ${s.p50} ms, p90 ${s.p90} ms, max ${s.max} ms`,
    );
  }
} finally {
  cli("destroy");
  rmSync(dir, { recursive: true, force: true });
}
