// Throughput of a framework-sized page through the balancer, with OPcache (the default: the
// distribution's configuration) and without it (app.ini opcache.enable: 0), on the native runtime.
// Two clusters side by side, measured interleaved (A B A B …), median of the rounds.
// The page: an autoloader and 400 generated classes (≈ 24k lines of PHP, as a framework's
// bootstrap touches), a session start, and a small render. Prints figures; asserts nothing.
// Usage: npm run build && node bench/opcache.mjs [rounds] [seconds per round] [connections]
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const rounds = Number(process.argv[2] ?? 5);
const seconds = Number(process.argv[3] ?? 3);
const connections = Number(process.argv[4] ?? 8);
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
    const base = 20000 + Math.floor(Math.random() * 12000);
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await free(p);
    if (ok) return base;
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), "phpcluster-bench-opcache-"));
chmodSync(dir, 0o755);
const docroot = path.join(dir, "public");
mkdirSync(path.join(docroot, "src"), { recursive: true });
const CLASSES = 400;
for (let i = 0; i < CLASSES; i++) {
  const methods = Array.from(
    { length: 12 },
    (_, m) =>
      `    public function method${m}(array $input): array\n    {\n        $out = [];\n        foreach ($input as $k => $v) {\n          $out[$k . '_${m}'] = is_string($v) ? strtoupper($v) : $v * ${m + 1};\n        }\n        return $out;\n    }\n`,
  ).join("\n");
  writeFileSync(
    path.join(docroot, "src", `Service${i}.php`),
    `<?php\nnamespace App;\n\nfinal class Service${i}\n{\n    private array $config = ['id' => ${i}, 'name' => 'service${i}'];\n\n${methods}\n}\n`,
  );
}
writeFileSync(
  path.join(docroot, "index.php"),
  `<?php
spl_autoload_register(function (string $class): void {
    $file = __DIR__ . '/src/' . substr($class, 4) . '.php';
    if (is_file($file)) require $file;
});
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
$sum = 0;
for ($i = 0; $i < ${CLASSES}; $i++) {
    $class = "App\\\\Service$i";
    $s = new $class();
    $sum += count($s->method0(['a' => 'x', 'b' => 2]));
}
header('Content-Type: text/plain');
echo "ok $sum {$_SESSION['n']}\\n";
`,
);

async function cluster(name, extra) {
  const port = await portBlock(4);
  const file = path.join(dir, `${name}.yml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      "runtime: native",
      "balancer:",
      `  port: ${port}`,
      "app:",
      "  replicas: 2",
      "  root: ./public",
      ...extra,
      "",
    ].join("\n"),
  );
  const r = spawnSync(process.execPath, [bin, "create", "-f", file, "--json"], {
    cwd: dir,
    encoding: "utf8",
  });
  const doc = JSON.parse(r.stdout || "{}");
  if (!doc.ok) throw new Error(`create ${name}: ${JSON.stringify(doc.error)}`);
  return { name, file, port };
}

/** `connections` keep-alive clients, each with its own session, for `seconds`: requests/s and latencies. */
async function load(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  let failed = 0;
  const deadline = performance.now() + seconds * 1000;
  const one = (cookie) =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.get(
        { host: "127.0.0.1", port, path: "/", agent, headers: cookie ? { Cookie: cookie } : {} },
        (res) => {
          const set = res.headers["set-cookie"]?.[0]?.split(";")[0];
          res.resume();
          res.on("end", () => {
            if (res.statusCode !== 200) failed++;
            latencies.push(performance.now() - t0);
            resolve(set ?? cookie);
          });
        },
      );
      req.on("error", () => {
        failed++;
        resolve(cookie);
      });
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      let cookie;
      while (performance.now() < deadline) cookie = await one(cookie);
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { rps: latencies.length / seconds, p50: q(0.5), p99: q(0.99), failed };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const clusters = [];
try {
  clusters.push(await cluster("bench-opcache-on", []));
  clusters.push(await cluster("bench-opcache-off", ["  ini:", "    opcache.enable: 0"]));
  for (const c of clusters) await load(c.port); // warm-up: OPcache fills, workers start
  const results = Object.fromEntries(clusters.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) for (const c of clusters) results[c.name].push(await load(c.port));
  console.log(
    `framework-sized page (${CLASSES} classes autoloaded, a session): ${connections} connections, ${rounds} interleaved rounds of ${seconds} s, medians`,
  );
  for (const c of clusters) {
    const rs = results[c.name];
    console.log(
      `  ${c.name.padEnd(18)} ${median(rs.map((x) => x.rps))
        .toFixed(0)
        .padStart(
          6,
        )} req/s  p50 ${median(rs.map((x) => x.p50)).toFixed(1)} ms  p99 ${median(rs.map((x) => x.p99)).toFixed(1)} ms  failed ${rs.reduce((a, x) => a + x.failed, 0)}`,
    );
  }
  const on = median(results["bench-opcache-on"].map((x) => x.rps));
  const off = median(results["bench-opcache-off"].map((x) => x.rps));
  console.log(`  OPcache on / off: ${(on / off).toFixed(2)}×`);
} finally {
  for (const c of clusters) spawnSync(process.execPath, [bin, "destroy", "-f", c.file], { cwd: dir });
  rmSync(dir, { recursive: true, force: true });
}
