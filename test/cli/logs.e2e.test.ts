import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { BIN } from "../helpers/cli.js";
import { get, nativeClusters } from "../helpers/cluster.js";
import { requireBinary } from "../helpers/validators.js";

/**
 * `logs` and `logs --follow` on the native runtime with real nginx, Apache+mod_php and memcached:
 * lines come merged with their node's name in front, as they are written, and health probes are
 * not in the access logs.
 */
for (const bin of ["nginx", "apache2", "memcached"]) requireBinary(bin);

const clusters = nativeClusters("phpcluster-logs");
afterAll(() => clusters.destroyAll());

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("phpcluster logs", () => {
  it("--follow merges every node's new lines with its name in front, leaves health probes out, and ends with exit 0 on Ctrl-C", async () => {
    const m = await clusters.make("follow");
    const created = await clusters.cli(m, ["create"]);
    expect(created.exitCode, created.stderr).toBe(0);
    await get(m.port, "/?marker=before");

    const follow = execa(process.execPath, [BIN, "logs", "--follow", "-n", "100", "-f", m.file], {
      cwd: m.dir,
      env: { CI: "true", NO_COLOR: "1" },
      reject: false,
      stdin: "ignore",
      timeout: 90_000,
    });
    let out = "";
    follow.stdout?.on("data", (d) => {
      out += String(d);
    });
    try {
      // the last lines first: the request made before, in the balancer's log and an app node's
      await until("the earlier request", () => /^lb +\| .*marker=before/m.test(out));
      expect(out).toMatch(/^app[12] +\| .*marker=before/m);

      // then what is written while it follows, with the health probes left out
      const health = await get(m.port, "/.phpcluster/health.php");
      expect(health.status).toBe(200);
      await get(m.port, "/?marker=after");
      await until("the new request", () => /^lb +\| .*marker=after/m.test(out));
      await until("the new request on an app node", () => /^app[12] +\| .*marker=after/m.test(out));
    } finally {
      follow.kill("SIGINT");
    }
    const ended = await follow;
    expect(ended.exitCode, ended.stderr).toBe(0);
    expect(out).not.toMatch(/health\.php/); // neither ours just now nor the ones create made
    for (const line of out.trim().split("\n")) {
      expect(line).toMatch(/^(lb|app1|app2|memcached1) +\| /);
    }
  });

  it("--follow with --json is a usage error (one document cannot stream)", async () => {
    const m = await clusters.make("json");
    const r = await clusters.cli(m, ["logs", "--follow", "--json"]);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toMatch(/--follow streams lines/);
  });

  it("-n 0 prints none of the old lines", async () => {
    const m = await clusters.make("zero");
    expect((await clusters.cli(m, ["create"])).exitCode).toBe(0);
    await get(m.port, "/?marker=old");
    const r = await clusters.cli(m, ["logs", "lb", "-n", "0"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/marker=old/);
    const all = await clusters.cli(m, ["logs", "lb", "-n", "5"]);
    expect(all.stdout).toMatch(/marker=old/);
  });
});
