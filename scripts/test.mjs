#!/usr/bin/env node
/**
 * `npm test`: the unit project, then the e2e project in two lanes at once — the swarm suite (its
 * clusters live in the bed's engines and spend most of their time in image builds and Swarm's
 * scheduling) beside every other e2e file, which run one after another as before. Each lane is
 * one `vitest run`; their lines are prefixed with the lane's name. The exit code is the first
 * lane's failure, or 0.
 *
 * With arguments (`npm test -- test/cli`), it is a plain `vitest run <arguments>`.
 */
import { spawn } from "node:child_process";
import readline from "node:readline";

const SWARM = "test/runtime/swarm.e2e.test.ts";
const vitest = ["node_modules/vitest/vitest.mjs", "run"];
const children = new Set();
/** Each lane's last lines: a failing lane's are printed again at the end, where a log's tail shows them. */
const TAIL = 80;
const tails = new Map();

function lane(name, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...vitest, ...args], {
      stdio: name ? ["ignore", "pipe", "pipe"] : "inherit",
      env: name ? { ...process.env, FORCE_COLOR: process.stdout.isTTY ? "1" : "0" } : process.env,
    });
    children.add(child);
    if (name) {
      for (const [from, to] of [
        [child.stdout, process.stdout],
        [child.stderr, process.stderr],
      ]) {
        readline.createInterface({ input: from }).on("line", (line) => {
          to.write(`[${name}] ${line}\n`);
          const tail = tails.get(name) ?? [];
          tail.push(line);
          if (tail.length > TAIL) tail.shift();
          tails.set(name, tail);
        });
      }
    }
    child.on("close", (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal);
  });
}

const args = process.argv.slice(2);
if (args.length > 0) process.exit(await lane("", args));

const unit = await lane("", ["--project", "unit"]);
if (unit !== 0) process.exit(unit);
const [others, swarm] = await Promise.all([
  lane("e2e", ["--project", "e2e", "--exclude", SWARM]),
  lane("swarm", ["--project", "e2e", SWARM]),
]);
for (const [name, code] of [
  ["e2e", others],
  ["swarm", swarm],
]) {
  if (code === 0) continue;
  console.log(`\n===== lane ${name} failed (exit ${code}): its last ${TAIL} lines again =====`);
  for (const line of tails.get(name) ?? []) console.log(`[${name}] ${line}`);
}
console.log(`e2e lanes: others exit ${others}, swarm exit ${swarm}`);
process.exit(others || swarm);
