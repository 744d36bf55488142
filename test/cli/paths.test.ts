import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { formatLogs } from "../../src/commands/logs.js";
import { shownPath } from "../../src/files/paths.js";
import { PLAIN_STYLE } from "../../src/output/style.js";
import { tempDir } from "../helpers/cli.js";
import { newWorld, runWithFake } from "../helpers/fake-driver.js";

/** Paths are shown relative to the working directory only when that is shorter than absolute. */
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function dir(prefix: string): string {
  const t = tempDir(prefix);
  cleanups.push(t.cleanup);
  return t.dir;
}

/** A project in one temporary directory, and a working directory three levels deep in another. */
function apart(topology = "name: fake\nruntime: native\n") {
  const project = dir("phpcluster-paths-");
  mkdirSync(path.join(project, "public"));
  writeFileSync(path.join(project, "public", "index.php"), "<?php echo 1;\n");
  const file = path.join(project, "phpcluster.yml");
  writeFileSync(file, topology);
  const cwd = path.join(dir("phpcluster-cwd-"), "a", "b");
  mkdirSync(cwd, { recursive: true });
  return { project, file, cwd, relative: path.relative(cwd, file) };
}

describe("shownPath", () => {
  it("is relative when that is shorter, absolute otherwise", () => {
    expect(shownPath("/work/main", "/tmp/x/y.xml")).toBe("/tmp/x/y.xml");
    expect(shownPath("/work/main", "/work/main/report.xml")).toBe("report.xml");
    expect(shownPath("/work/main", "/work/main/.phpcluster/demo/native")).toBe(".phpcluster/demo/native");
    expect(shownPath("/work/main", "/work/other/x.yml")).toBe("../other/x.yml");
    expect(shownPath("/work/main", "/work/main")).toBe(".");
    expect(shownPath("/", "/etc/x")).toBe("etc/x");
  });

  it("takes a relative path from cwd", () => {
    expect(shownPath("/work/main", "../../tmp/x/y.xml")).toBe("/tmp/x/y.xml");
    expect(shownPath("/work/main", "./phpcluster.yml")).toBe("phpcluster.yml");
  });
});

describe("paths in what commands print", () => {
  it("validate names a file given by a long way round by its absolute path", async () => {
    const p = apart();
    expect(p.relative.startsWith("../../../")).toBe(true);
    const r = await runWithFake(newWorld(), ["-f", p.relative, "validate", "--json"], { cwd: p.cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).data.file).toBe(p.file);
    const human = await runWithFake(newWorld(), ["-f", p.relative, "validate"], { cwd: p.cwd });
    expect(human.stdout).toContain(`✔ ${p.file} is valid`);
  });

  it("validate names a file given absolute by the shorter relative path", async () => {
    const p = apart();
    const r = await runWithFake(newWorld(), ["-f", p.file, "validate", "--json"], { cwd: p.project });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).data.file).toBe("phpcluster.yml");
  });

  it("topology problems name the file as shownPath does", async () => {
    const p = apart("name: fake\nruntime: native\nbalancer:\n  port: eighty\n");
    const r = await runWithFake(newWorld(), ["-f", p.relative, "validate"], { cwd: p.cwd });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(`${p.file}:4:`);
    expect(r.stderr).not.toContain("../");
  });

  it("init that would overwrite names the files absolute when relative is longer", async () => {
    const p = apart();
    const r = await runWithFake(newWorld(), ["-f", p.file, "init"], { cwd: p.cwd });
    expect(r.exitCode).toBe(8);
    expect(r.stderr).toContain(`${p.file} and ${path.join(p.project, "public", "index.php")} already exist`);
    expect(r.stderr).not.toContain("../");
  });

  it("logs names a native log file by shownPath, and a log command as it is", () => {
    const text = formatLogs(
      {
        logs: [
          { node: "app1", file: "/work/main/.phpcluster/demo/native/app1/error.log", lines: ["a"] },
          { node: "app2", file: "/tmp/elsewhere/error.log", lines: ["b"] },
          { node: "lb", file: "docker logs demo-lb-1", lines: ["c"] },
        ],
      },
      PLAIN_STYLE,
      "/work/main",
    );
    expect(text).toContain("==> app1: .phpcluster/demo/native/app1/error.log <==");
    expect(text).toContain("==> app2: /tmp/elsewhere/error.log <==");
    expect(text).toContain("==> lb: docker logs demo-lb-1 <==");
  });
});
