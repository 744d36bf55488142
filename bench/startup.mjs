// Start-up cost of the CLI: `phpcluster --version` and `phpcluster validate` against a bare
// `node -e 0`, interleaved (A B C A B C …) so that the machine's load hits all alike; medians of
// the runs and the ratio to node itself. Prints figures; asserts nothing (no timing in tests).
// Usage: npm run build && node bench/startup.mjs [runs]
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const runs = Number(process.argv[2] ?? 21);
const repo = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(repo, "bin", "phpcluster.js");
const example = path.join(repo, "examples", "basic.yml");

const cases = [
  { name: "node -e 0", args: ["-e", "0"] },
  { name: "phpcluster --version", args: [bin, "--version"] },
  { name: "phpcluster validate", args: [bin, "validate", "-f", example] },
  { name: "phpcluster --help", args: [bin, "--help"] },
];

const times = Object.fromEntries(cases.map((c) => [c.name, []]));
for (let i = 0; i < runs + 1; i++) {
  for (const c of cases) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, c.args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, CI: "true" },
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr}`);
    if (i > 0) times[c.name].push(ms); // the first round warms the file cache
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const base = median(times["node -e 0"]);
console.log(`start-up, median of ${runs} interleaved runs (node ${process.version}):`);
for (const c of cases) {
  const m = median(times[c.name]);
  console.log(`  ${c.name.padEnd(22)} ${m.toFixed(0).padStart(5)} ms  ${(m / base).toFixed(2)}× node -e 0`);
}
