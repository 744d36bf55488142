import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { REPO, runCli, snapshotTree, tempDir } from "../helpers/cli.js";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
});

/** A copy of examples/ in a temp dir, so rendering writes nothing into the repository. */
function examplesCopy(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  cpSync(path.join(REPO, "examples"), dir, { recursive: true });
  return dir;
}

describe.each(["native", "compose"])("phpcluster render --runtime %s", (runtime) => {
  it("writes every file, then reports them unchanged with identical bytes", async () => {
    const dir = examplesCopy();
    const first = await runCli(["render", "--json", "--runtime", runtime, "-f", "ha-sessions.yml"], {
      cwd: dir,
    });
    expect(first.exitCode, first.stderr).toBe(0);
    const doc = JSON.parse(first.stdout);
    expect(doc.data.outDir).toBe(path.join(".phpcluster", "demo-ha", runtime));
    expect(doc.data.files.length).toBeGreaterThan(5);
    expect(doc.data.files.every((f: { action: string }) => f.action === "created")).toBe(true);
    const out = path.join(dir, doc.data.outDir);
    const tree = snapshotTree(out);
    expect(Object.keys(tree).sort()).toEqual(doc.data.files.map((f: { path: string }) => f.path).sort());

    const second = await runCli(["render", "--json", "--runtime", runtime, "-f", "ha-sessions.yml"], {
      cwd: dir,
    });
    expect(
      JSON.parse(second.stdout).data.files.every((f: { action: string }) => f.action === "unchanged"),
    ).toBe(true);
    expect(snapshotTree(out)).toEqual(tree);
  });

  it("--dry-run writes nothing and lists what would change", async () => {
    const dir = examplesCopy();
    const before = snapshotTree(dir);
    const r = await runCli(["render", "--dry-run", "--runtime", runtime, "-f", "basic.yml"], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain("dry run: would write");
    expect(r.stdout).toMatch(/would create\s+nginx\/nginx\.conf/);
    expect(r.stdout).not.toMatch(/^\s+created\s/m); // nothing was created: it says what would be
    expect(snapshotTree(dir)).toEqual(before);
  });

  it("marks exactly the files a topology change touches as changed", async () => {
    const dir = examplesCopy();
    const out = path.join(dir, "rendered");
    expect(
      (await runCli(["render", "--runtime", runtime, "-f", "basic.yml", "--out", out], { cwd: dir }))
        .exitCode,
    ).toBe(0);
    const topo = path.join(dir, "basic.yml");
    writeFileSync(topo, readFileSync(topo, "utf8").replace("memory_limit: 256M", "memory_limit: 300M"));
    const r = await runCli(["render", "--json", "--runtime", runtime, "-f", "basic.yml", "--out", out], {
      cwd: dir,
    });
    const files: { path: string; action: string }[] = JSON.parse(r.stdout).data.files;
    const changed = files.filter((f) => f.action === "changed").map((f) => f.path);
    expect(changed.sort()).toEqual(["app1/php.ini", "app2/php.ini"]);
    expect(readFileSync(path.join(out, "app1", "php.ini"), "utf8")).toMatch(/memory_limit = 300M/);
    expect(existsSync(path.join(dir, ".phpcluster"))).toBe(false);
  });
});
