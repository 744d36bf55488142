// `npm run demo`: doctor → create the example cluster on the best available runtime → verify.
// Installs the native runtime's Debian packages when they are missing and this is root on Debian.
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(repo, "bin", "phpcluster.js");
let dir = path.join(repo, "examples");
const file = "basic.yml";

function phpcluster(args, { json = false } = {}) {
  const r = spawnSync(process.execPath, [bin, ...args, ...(json ? ["--json"] : [])], {
    cwd: dir,
    stdio: json ? ["ignore", "pipe", "inherit"] : "inherit",
    encoding: "utf8",
  });
  return { code: r.status ?? 1, doc: json && r.stdout ? JSON.parse(r.stdout) : undefined };
}

console.error("== phpcluster doctor");
let doctor = phpcluster(["doctor", "-f", file], { json: true }).doc;
const report = doctor.ok ? doctor.data : doctor.error.details;
if (report && !report.native.usable && report.os.root && report.os.debianLike) {
  console.error(`== installing the native runtime's packages: ${report.missingPackages.join(" ")}`);
  if (phpcluster(["doctor", "--install", "--yes", "-f", file]).code !== 0) process.exit(4);
  doctor = phpcluster(["doctor", "-f", file], { json: true }).doc;
}
if (!doctor.ok) {
  phpcluster(["doctor", "-f", file]);
  process.exit(4);
}

// what `runtime: auto` picks here: compose when a Docker engine answers and the example's base
// image is there (or pullable), else native
const runtime = doctor.data.auto ?? "native";
console.error(`== runtime auto picks ${runtime}: ${doctor.data.autoReason}`);

console.error(`== phpcluster create --runtime ${runtime}`);
let created = phpcluster(["create", "--runtime", runtime, "-f", file], { json: true }).doc;
if (!created.ok && created.error.code === "DOCROOT_UNREADABLE") {
  // Apache's workers (www-data) cannot enter this checkout (e.g. under /root): run from a copy
  dir = mkdtempSync(path.join(os.tmpdir(), "phpcluster-demo-"));
  chmodSync(dir, 0o755);
  cpSync(path.join(repo, "examples"), dir, { recursive: true });
  console.error(`== ${created.error.message}; running the demo from a copy in ${dir}`);
  created = phpcluster(["create", "--runtime", runtime, "-f", file], { json: true }).doc;
}
if (!created.ok && created.error.code !== "CLUSTER_RUNNING") {
  console.error(`✖ ${created.error.message}${created.error.hint ? `\n  hint: ${created.error.hint}` : ""}`);
  process.exit(5);
}

console.error("== phpcluster verify");
const verified = phpcluster(["verify", "-f", file]);
console.error("");
phpcluster(["status", "-f", file]);
console.error(
  `\nThe example cluster is at http://127.0.0.1:8080/ (open it, reload, run \`phpcluster failover\`).`,
);
const topology = path.join(dir, file);
const inRepo = !path.relative(repo, topology).startsWith("..");
console.error(
  `Stop and remove it with: ${inRepo ? `npx phpcluster destroy -f ${path.relative(repo, topology)}` : `node ${bin} destroy -f ${topology}`}`,
);
process.exit(verified.code);
