import { chmodSync, cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { XMLParser } from "fast-xml-parser";
import { afterAll, describe, expect, it } from "vitest";
import { REPO, runCli, tempDir } from "../helpers/cli.js";
import { freePortBlock, liveGroupMembers, recordedProcesses } from "../helpers/cluster.js";
import { CHROMIUM, expectDrawnReport, readReport } from "../helpers/report-page.js";
import { requireBinary } from "../helpers/validators.js";

/**
 * `failover` and `verify` end to end on the native runtime: real nginx, Apache+mod_php and
 * memcached, nodes killed for real. Each cluster is a copy of an example with free ports.
 */
for (const bin of ["nginx", "apache2", "memcached", path.basename(CHROMIUM)]) requireBinary(bin);

interface Made {
  dir: string;
  file: string;
  stateDir: string;
  name: string;
  cleanup: () => void;
}
const made: Made[] = [];

/** A copy of examples/<example> with a free balancer port (and a unique name), plus edits. */
async function fromExample(example: string, edit: (yaml: string) => string = (y) => y): Promise<Made> {
  const { dir, cleanup } = tempDir("phpcluster-verify-");
  chmodSync(dir, 0o755);
  cpSync(path.join(REPO, "examples"), dir, { recursive: true });
  const file = path.join(dir, example);
  const text = readFileSync(file, "utf8");
  const name = `${/^name: (\S+)/m.exec(text)?.[1]}-${made.length}`;
  const replicas = Number(/replicas: (\d+)/.exec(text)?.[1] ?? 2);
  const port = await freePortBlock(1 + replicas + 2);
  writeFileSync(
    file,
    edit(text.replace(/^name: \S+/m, `name: ${name}`).replace(/^ {2}port: \d+/m, `  port: ${port}`)),
  );
  const m = { dir, file, stateDir: path.join(dir, ".phpcluster", name), name, cleanup };
  made.push(m);
  return m;
}

function cli(m: Made, args: string[]) {
  return runCli([...args, "-f", m.file], { cwd: m.dir, timeout: 180_000 });
}

async function create(m: Made) {
  const r = await cli(m, ["create", "--runtime", "native"]);
  expect(r.exitCode, r.stderr).toBe(0);
}

afterAll(async () => {
  for (const m of made) {
    if (existsSync(m.stateDir)) {
      const processes = existsSync(path.join(m.stateDir, "processes.json"))
        ? recordedProcesses(m.stateDir)
        : {};
      await cli(m, ["destroy"]);
      for (const p of Object.values(processes)) expect(liveGroupMembers(p.pgid)).toEqual([]);
    }
    m.cleanup();
  }
});

interface CheckJson {
  name: string;
  ok: boolean;
  detail: string;
  data?: unknown;
}

function parseJunit(file: string) {
  const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(
    readFileSync(file, "utf8"),
  );
  const suites = [xml.testsuites?.testsuite ?? xml.testsuite].flat();
  const cases = suites.flatMap((s: { testcase: unknown }) => [s.testcase].flat()) as {
    name: string;
    failure?: unknown;
  }[];
  return cases.map((c) => ({ name: c.name, failed: c.failure !== undefined }));
}

describe("verify passes on every example topology", () => {
  it.each(["basic.yml", "ha-sessions.yml", "least-conn.yml"])("%s", async (example) => {
    const m = await fromExample(example);
    await create(m);
    const junit = path.join(m.dir, "report.xml");
    const html = path.join(m.dir, "report.html");
    const r = await cli(m, ["verify", "--json", "--junit", junit, "--report", html]);
    const doc = JSON.parse(r.stdout);
    const failed = (doc.data?.checks ?? doc.error?.details?.report?.checks ?? []).filter(
      (c: CheckJson) => !c.ok,
    );
    expect(failed, JSON.stringify(failed, null, 2)).toEqual([]);
    expect(r.exitCode).toBe(0);
    const checks = doc.data.checks as CheckJson[];
    const names = checks.map((c) => c.name);
    for (const want of ["health", "session-store", "kill-mid-request", "rolling-restart"])
      expect(names).toContain(want);
    expect(names.filter((n) => n.startsWith("kill-owner ")).length).toBeGreaterThanOrEqual(2);
    expect(names.some((n) => n.startsWith("memcached-node-loss"))).toBe(example === "ha-sessions.yml");
    // the JUnit file has one testcase per check, none failed
    const cases = parseJunit(junit);
    expect(cases.map((c) => c.name)).toEqual(names);
    expect(cases.filter((c) => c.failed)).toEqual([]);
    const status = JSON.parse((await cli(m, ["status", "--json"])).stdout).data;
    expect(status.running).toBe(true); // verify leaves the cluster as it found it
    expect(doc.data.junit).toBe("report.xml"); // relative to the working directory: shorter
    // in text, it says where it wrote
    const text = await cli(m, ["verify", "--scenario", "health", "--junit", "health.xml"]);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toContain("JUnit report written to health.xml");
    expect(parseJunit(path.join(m.dir, "health.xml")).map((c) => c.name)).toContain("health");
    // --json carries every load-bearing check's timeline; the HTML report draws each one
    const withTimeline = (
      doc.data.checks as (CheckJson & { timeline?: { t: number[]; events: unknown[] } })[]
    )
      .filter((c) => c.timeline)
      .map((c) => c.name);
    expect(withTimeline).toEqual(
      expect.arrayContaining([
        "kill-mid-request",
        "rolling-restart",
        ...names.filter((n) => n.startsWith("kill-owner ")),
      ]),
    );
    expect(doc.data.html).toBe("report.html");
    expect(Object.keys(doc.data.versions ?? {})).toEqual(expect.arrayContaining(["php", "memcached"]));
    expect(doc.data.versions?.balancer).toMatch(/^nginx\/\d+\.\d+/); // the balancer's own nginx -v
    const page = await readReport(html, `verify-${example.replace(".yml", "")}.png`);
    expectDrawnReport(page, doc.data.checks, expect);
    expect(page.title).toContain("passed");
    expect(page.rowsWithoutScript[0]).toContain(names[0]);
    // the kill and the return are on the chart of a check that killed a node
    const killOwner = page.charts.find((c) => c.check.startsWith("kill-owner "));
    expect(killOwner?.events).toBeGreaterThanOrEqual(2);
  });
});

describe("verify fails on deliberately broken clusters, naming the check", () => {
  async function verifyFails(m: Made, args: string[], failing: string[]) {
    const junit = path.join(m.dir, "report.xml");
    const r = await cli(m, ["verify", "--json", "--junit", junit, ...args]);
    expect(r.exitCode, r.stderr).toBe(6);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.error.code).toBe("VERIFY_FAILED");
    const checks = doc.error.details.report.checks as CheckJson[];
    const failedNames = checks.filter((c) => !c.ok).map((c) => c.name);
    for (const f of failing) expect(failedNames).toContain(f);
    const cases = parseJunit(junit);
    expect(cases.map((c) => c.name)).toEqual(checks.map((c) => c.name));
    for (const f of failing) expect(cases.find((c) => c.name === f)?.failed).toBe(true);
    return checks;
  }

  it("one node's override sets session.save_handler = files", async () => {
    const m = await fromExample("basic.yml", (y) =>
      y.replace(
        "memory_limit: 256M",
        "memory_limit: 256M\n  nodes:\n    app2:\n      ini:\n        session.save_handler: files",
      ),
    );
    await create(m);
    const checks = await verifyFails(
      m,
      ["--scenario", "health", "effective-config"],
      ["effective-config app2"],
    );
    expect(checks.find((c) => c.name === "effective-config app1")?.ok).toBe(true);
    expect(checks.find((c) => c.name === "effective-config app2")?.detail).toContain(
      'session.save_handler is "files", the cluster needs "memcached"',
    );
  });

  it("a memcached node stopped", async () => {
    const m = await fromExample("basic.yml");
    await create(m);
    process.kill(-recordedProcesses(m.stateDir).memcached1!.pgid, "SIGKILL");
    const checks = await verifyFails(
      m,
      ["--scenario", "health", "session-store", "kill-owner"],
      ["health", "session-store"],
    );
    expect(checks.find((c) => c.name === "health")?.detail).toContain("memcached1 stopped");
    expect(checks.find((c) => c.name === "kill-owner")?.detail).toContain("not run");
  });

  it("sessions.replicas: 0 with two memcached nodes under memcached-node-loss", async () => {
    const m = await fromExample("ha-sessions.yml", (y) =>
      y.replace("  replicas: 1\nmemcached:", "  replicas: 0\nmemcached:"),
    );
    expect(readFileSync(m.file, "utf8")).toMatch(/replicas: 0\nmemcached:\n {2}nodes: 2/);
    await create(m);
    const checks = await verifyFails(m, ["--scenario", "memcached-node-loss"], ["memcached-node-loss"]);
    const loss = checks.find((c) => c.name === "memcached-node-loss") as {
      detail: string;
      data: { during: { empty: number }; end: { empty: number } };
    };
    // the killed node's sessions are gone: the load reads them empty, and they stay empty after it returns
    expect(loss.data.during.empty).toBeGreaterThan(0);
    expect(loss.data.end.empty).toBeGreaterThan(0);
    expect(loss.detail).toContain("there is no second copy");
    // a graceful restart keeps the data in Memcached, but the users who come while the node is away
    // get new sessions (validate_sid fails, strict mode): it fails and says why
    const restart = await verifyFails(m, ["--scenario", "memcached-restart"], ["memcached-restart"]);
    const r = restart.find((c) => c.name === "memcached-restart") as {
      detail: string;
      data: { during: { empty: number } };
    };
    expect(r.data.during.empty).toBeGreaterThan(0);
    expect(r.detail).toContain("strict mode gives that user a new, empty session");
  });
});

describe("failover", () => {
  it("kills the node serving the session; another node serves it with its data; the node is restored", async () => {
    const m = await fromExample("basic.yml");
    await create(m);
    const r = await cli(m, ["failover", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout).data;
    expect(report.mode).toBe("kill");
    expect(report.after.node).not.toBe(report.node);
    expect(report.after.sessionId).toBe(report.sessionId);
    expect(report.after.counter).toBe(report.before.counter + 1);
    expect(report.after.nonce).toBe(report.nonce);
    expect(report.timeToFirstGoodMs).toBeTypeOf("number");
    expect(report.restored).toBe(true);
    const status = JSON.parse((await cli(m, ["status", "--json"])).stdout).data;
    expect(status.running).toBe(true);
  });

  it("--mode stop --node app1 --keep-down leaves the node down", async () => {
    const m = await fromExample("basic.yml");
    await create(m);
    const r = await cli(m, ["failover", "--json", "--mode", "stop", "--node", "app1", "--keep-down"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout).data;
    expect(report).toMatchObject({ node: "app1", mode: "stop", restored: false });
    expect(report.after.node).toBe("app2");
    const nodes = JSON.parse((await cli(m, ["status", "--json"])).stdout).data.nodes as {
      name: string;
      state: string;
    }[];
    expect(nodes.find((n) => n.name === "app1")?.state).toBe("stopped");
  });

  it("refuses an unknown node", async () => {
    const m = await fromExample("basic.yml");
    const r = await cli(m, ["failover", "--node", "app9", "--runtime", "native"]);
    expect(r.exitCode).toBe(2); // a typo in a node name is a usage error
    expect(r.stderr).toContain("app9 is not an app node");
  });
});
