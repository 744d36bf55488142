import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { formatNodes } from "../../src/commands/common.js";
import { PhpclusterError } from "../../src/errors.js";
import { selectReporter } from "../../src/output/index.js";
import { PLAIN_STYLE } from "../../src/output/style.js";

function capture() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const text = { out: "", err: "" };
  stdout.on("data", (d) => {
    text.out += d;
  });
  stderr.on("data", (d) => {
    text.err += d;
  });
  return { streams: { stdout, stderr }, text };
}

const ANSI = /\u001b\[/;

describe("selectReporter", () => {
  it("--json prints one envelope on stdout and nothing else there", async () => {
    const { streams, text } = capture();
    const r = selectReporter({ json: true, color: true, env: {}, streams, isTTY: true });
    await r.step("working", async () => 1);
    r.warn("careful");
    r.result("validate", { a: 1 }, () => "human text");
    expect(JSON.parse(text.out)).toEqual({ ok: true, command: "validate", data: { a: 1 } });
    expect(text.err).toBe("warning: careful\n");
    expect(() => r.result("validate", {}, () => "")).toThrow(/already written/);
  });

  it("errors under --json carry code, message and hint", () => {
    const { streams, text } = capture();
    const r = selectReporter({ json: true, color: false, env: {}, streams, isTTY: false });
    r.failure(
      "create",
      new PhpclusterError("PORT_IN_USE", "port 8080 is in use", { hint: "pick another" }),
      false,
    );
    expect(JSON.parse(text.out)).toEqual({
      ok: false,
      command: "create",
      error: { code: "PORT_IN_USE", message: "port 8080 is in use", hint: "pick another" },
    });
  });

  it("honours NO_COLOR on a terminal", async () => {
    const { streams, text } = capture();
    const r = selectReporter({ json: false, color: true, env: { NO_COLOR: "1" }, streams, isTTY: true });
    r.result("x", 1, (_d, s) => s.ok("green?"));
    r.failure("x", new Error("boom"), false);
    expect(r.mode).toBe("interactive");
    expect(text.out + text.err).not.toMatch(ANSI);
  });

  it("colours a terminal without NO_COLOR, and is plain in CI", () => {
    const tty = capture();
    selectReporter({ json: false, color: true, env: {}, streams: tty.streams, isTTY: true }).result(
      "x",
      1,
      (_d, s) => s.ok("ok"),
    );
    expect(tty.text.out).toMatch(ANSI);
    const ci = capture();
    const r = selectReporter({
      json: false,
      color: true,
      env: { CI: "true" },
      streams: ci.streams,
      isTTY: true,
    });
    expect(r.mode).toBe("plain");
  });

  it("plain steps print one line each on stderr, when they end; nested steps are indented", async () => {
    const { streams, text } = capture();
    const r = selectReporter({ json: false, color: false, env: {}, streams, isTTY: false });
    await expect(
      r.step("start memcached1", async () => {
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    await r.step("verify", async () => {
      await r.step("health", async () => 1);
      await r.step("session-store", async () => 2);
    });
    const lines = text.err.trimEnd().split("\n");
    expect(lines.map((l) => l.replace(/ \([^)]*\)$/, ""))).toEqual([
      "✖ start memcached1",
      "  ✔ health",
      "  ✔ session-store",
      "✔ verify",
    ]);
    expect(text.err).not.toMatch(/…/);
    expect(text.out).toBe("");
  });
});

describe("the node table", () => {
  it("shows what each Memcached node holds, and a node filling itself from its peers", () => {
    const text = formatNodes(
      [
        {
          name: "memcached1",
          role: "memcached",
          state: "running",
          address: "127.0.0.1:1",
          pid: 7,
          items: 12345,
        },
        {
          name: "memcached2",
          role: "memcached",
          state: "unhealthy",
          address: "127.0.0.1:2",
          pid: 8,
          warming: true,
          items: 0,
          detail: "starting",
        },
        { name: "app1", role: "app", state: "running", address: "127.0.0.1:3", pid: 9 },
      ],
      PLAIN_STYLE,
    );
    const rows = text.split("\n");
    expect(rows.find((r) => r.startsWith("memcached1"))).toMatch(/12,345 items$/);
    expect(rows.find((r) => r.startsWith("memcached2"))).toMatch(
      /starting; warming: filling from its peers; 0 items$/,
    );
    expect(rows.find((r) => r.startsWith("app1"))).not.toMatch(/items/);
  });
});

describe("the terminal reporter", () => {
  it("shows one spinner at a time: nested steps raise no ora warning and leave indented lines", async () => {
    const written: string[] = [];
    // what ora needs of a terminal stream; cursor moves are not part of what is checked here
    const tty = Object.assign(new PassThrough(), {
      isTTY: true,
      columns: 80,
      rows: 24,
      cursorTo: () => true,
      moveCursor: () => true,
      clearLine: () => true,
    });
    tty.on("data", (c: Buffer) => written.push(c.toString()));
    const warnings: unknown[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
    try {
      const r = selectReporter({
        json: false,
        color: false,
        env: {},
        streams: { stdout: new PassThrough(), stderr: tty },
        isTTY: true,
      });
      expect(r.mode).toBe("interactive");
      await r.step("verify", async () => {
        await r.step("health", async () => 1);
        await r.step("session-store", async () => 2);
      });
    } finally {
      console.warn = warn;
    }
    expect(warnings).toEqual([]);
    const text = written.join("").replace(/\u001b\[[0-9;?]*[a-zA-Z]/g, "");
    expect(text).toMatch(/ {2}✔ health/);
    expect(text).toMatch(/ {2}✔ session-store/);
    // the outer step's line is not indented (spinner frames before it are cleared on a terminal)
    expect(text).toMatch(/✔ verify \(/);
    expect(text).not.toMatch(/ {2}✔ verify/);
    expect(text.indexOf("✔ session-store")).toBeLessThan(text.indexOf("✔ verify"));
  });
});
