import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { REPO, runCli, snapshotTree, tempDir } from "../helpers/cli.js";
import { BROKEN_CASES } from "../topology/broken-cases.js";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
});

function workspace(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return dir;
}

describe("phpcluster validate on broken topologies", () => {
  it.each(BROKEN_CASES)("$name: every problem with its line, exit 3, nothing written", async ({
    yaml,
    issues,
  }) => {
    const dir = workspace();
    writeFileSync(path.join(dir, "phpcluster.yml"), yaml);
    const before = snapshotTree(dir);
    for (const command of [["validate"], ["render"], ["render", "--runtime", "native"]]) {
      const r = await runCli(command, { cwd: dir });
      expect(r.exitCode, `${command.join(" ")}: ${r.stderr}`).toBe(3);
      expect(r.stdout).toBe("");
      for (const want of issues) {
        const prefix = `phpcluster.yml:${want.line}:`;
        const line = r.stderr
          .split("\n")
          .find((l) => l.includes(prefix) && l.includes(`${want.path || "(document)"}:`));
        expect(line, `missing "${prefix} ${want.path}" in:\n${r.stderr}`).toBeDefined();
      }
    }
    expect(snapshotTree(dir)).toEqual(before);
  });

  it("prints exactly one JSON document with every issue under --json", async () => {
    const dir = workspace();
    const several = BROKEN_CASES.find((c) => c.name === "several problems at once");
    writeFileSync(path.join(dir, "phpcluster.yml"), several!.yaml);
    mkdirSync(path.join(dir, "public"));
    const r = await runCli(["validate", "--json"], { cwd: dir });
    expect(r.exitCode).toBe(3);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.command).toBe("validate");
    expect(doc.error.code).toBe("TOPOLOGY_INVALID");
    expect(doc.error.details.issues.map((i: { line: number }) => i.line)).toEqual(
      several!.issues.map((i) => i.line),
    );
  });

  it("names the file when it does not exist", async () => {
    const dir = workspace();
    const r = await runCli(["validate", "-f", "nope.yml"], { cwd: dir });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain("nope.yml: no such topology file");
    expect(r.stderr).toContain("phpcluster init");
  });
});

describe("phpcluster validate on good topologies", () => {
  it.each(["basic.yml", "ha-sessions.yml", "least-conn.yml"])("examples/%s is valid", async (name) => {
    const r = await runCli(["validate", "-f", path.join("examples", name)], { cwd: REPO });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain("is valid");
  });

  it("--json gives a summary in the envelope", async () => {
    const r = await runCli(["validate", "--json", "-f", "examples/ha-sessions.yml"], { cwd: REPO });
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      ok: true,
      command: "validate",
      data: { valid: true, summary: { name: "demo-ha", appNodes: 3, memcachedNodes: 2, sessionReplicas: 1 } },
    });
  });

  it("reports warnings but exits 0", async () => {
    const dir = workspace();
    writeFileSync(
      path.join(dir, "phpcluster.yml"),
      "name: shop\napp:\n  nodes:\n    app1:\n      ini:\n        session.save_handler: files\n",
    );
    mkdirSync(path.join(dir, "public"));
    const r = await runCli(["validate"], { cwd: dir });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/phpcluster\.yml:6:\d+ .*session\.save_handler.*replaces it/);
  });

  it("a document root that is not there is an error with its file:line, before anything runs", async () => {
    const dir = workspace();
    writeFileSync(path.join(dir, "phpcluster.yml"), "name: shop\napp:\n  replicas: 2\n  root: ./web\n");
    for (const command of [["validate"], ["create", "--runtime", "native"]]) {
      const r = await runCli(command, { cwd: dir });
      expect(r.exitCode, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/phpcluster\.yml:4:\d+ app\.root: app\.root \.\/web does not exist/);
    }
    expect(existsSync(path.join(dir, ".phpcluster"))).toBe(false);
    mkdirSync(path.join(dir, "web"));
    expect((await runCli(["validate"], { cwd: dir })).exitCode).toBe(0);
  });

  it("an unknown php.ini directive is a warning with did-you-mean, in validate and in config set", async () => {
    const dir = workspace();
    mkdirSync(path.join(dir, "public"));
    writeFileSync(path.join(dir, "phpcluster.yml"), "name: shop\napp:\n  ini:\n    memory_limt: 256M\n");
    const v = await runCli(["validate"], { cwd: dir });
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stderr).toMatch(/phpcluster\.yml:4:5 app\.ini\.memory_limt: .*did you mean "memory_limit"\?/);
    const set = await runCli(["config", "set", "php.upload_max_filsize=8M"], { cwd: dir });
    expect(set.exitCode, set.stderr).toBe(0);
    expect(set.stderr).toMatch(/app\.ini\.upload_max_filsize: .*did you mean "upload_max_filesize"\?/);
  });

  it("asks the installed PHP which directives it has (an extension's own are not warned about)", async () => {
    const dir = workspace();
    mkdirSync(path.join(dir, "public"));
    writeFileSync(path.join(dir, "phpcluster.yml"), "name: shop\napp:\n  ini:\n    frobnicate.level: 3\n");
    const without = await runCli(["validate"], { cwd: dir, env: { PATH: "/nonexistent" } });
    expect(without.stderr).toMatch(/frobnicate\.level.*not a php\.ini directive PHP knows/);
    // a php that reports the directive (as one with the frobnicate extension loaded would)
    const bin = path.join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(path.join(bin, "php"), `#!/bin/sh\necho '["frobnicate.level"]'\n`, { mode: 0o755 });
    const withIt = await runCli(["validate"], { cwd: dir, env: { PATH: `${bin}:/usr/bin:/bin` } });
    expect(withIt.exitCode, withIt.stderr).toBe(0);
    expect(withIt.stderr).not.toMatch(/frobnicate/);
  });
});

describe("usage errors", () => {
  it("an unknown option exits 2", async () => {
    const r = await runCli(["validate", "--bogus"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("unknown option '--bogus'");
  });

  it("an unknown option under --json still gives one JSON document", async () => {
    const r = await runCli(["render", "--runtime", "kubernetes", "--json"]);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, command: "render", error: { code: "USAGE" } });
  });

  it("--help shows examples and exits 0", async () => {
    const r = await runCli(["render", "--help"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("Examples:");
    expect(r.stdout).toContain("--dry-run");
  });
});

describe("phpcluster init", () => {
  it("writes a topology that validates and a sample page, then refuses to overwrite", async () => {
    const dir = path.join(workspace(), "My Shop");
    mkdirSync(dir);
    const r = await runCli(["init"], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const v = await runCli(["validate", "--json"], { cwd: dir });
    expect(JSON.parse(v.stdout).data.summary.name).toBe("my-shop");
    const before = snapshotTree(dir);
    const again = await runCli(["init"], { cwd: dir });
    expect(again.exitCode).toBe(8);
    expect(again.stderr).toContain("already exist");
    expect(snapshotTree(dir)).toEqual(before);
    expect((await runCli(["init", "--force", "--name", "other"], { cwd: dir })).exitCode).toBe(0);
  });

  it("picks a free balancer port: 8080 unless it or a native node's port beside it is taken", async () => {
    // hold 8081 (app1's port of a cluster on 8080); if something else holds it already, all the same
    const blocker = net.createServer();
    await new Promise<void>((resolve) => {
      blocker.once("error", () => resolve());
      blocker.listen({ port: 8081, host: "127.0.0.1", exclusive: true }, () => resolve());
    });
    try {
      const dir = workspace();
      const r = await runCli(["init", "--json"], { cwd: dir });
      expect(r.exitCode, r.stderr).toBe(0);
      const data = JSON.parse(r.stdout).data;
      expect(data.port).not.toBe(8080);
      expect(data.port % 10).toBe(0);
      expect(data.portNote).toMatch(/8080 is in use/);
      const v = await runCli(["validate", "--json"], { cwd: dir });
      expect(JSON.parse(v.stdout).data.summary.balancer).toContain(`:${data.port}`);
      // the comment column stays where it was
      expect(snapshotTree(dir)["phpcluster.yml"]).toMatch(
        new RegExp(`\\n  port: ${data.port} +# host port where the cluster is served\\n`),
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("points the editor at the JSON Schema", async () => {
    const dir = workspace();
    await runCli(["init", "--name", "shop"], { cwd: dir });
    const text = snapshotTree(dir)["phpcluster.yml"];
    const m = /\$schema=(\S+)/.exec(text ?? "");
    expect(m).not.toBeNull();
    copyFileSync(path.resolve(dir, m![1]!), path.join(dir, "schema-check.json"));
  });
});
