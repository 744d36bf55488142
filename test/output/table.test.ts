import { PassThrough } from "node:stream";
import { stripVTControlCharacters as stripAnsi } from "node:util";
import stringWidth from "string-width";
import { describe, expect, it } from "vitest";
import { formatNodes } from "../../src/commands/common.js";
import { formatVerify } from "../../src/commands/verify.js";
import { createStyle } from "../../src/output/colors.js";
import { selectReporter } from "../../src/output/index.js";
import { PLAIN_STYLE } from "../../src/output/style.js";
import { table } from "../../src/output/table.js";
import type { VerifyReport } from "../../src/scenarios/report.js";

const LONG =
  "held by 1,234 requests for 5,210 ms while memcached2 was away; 0 failed, 0 empty, 0 stale; " +
  "keys copied into it afterwards: 4,096 of 4,096 (warm), and the balancer never answered 502";

function report(detail = LONG): VerifyReport {
  return {
    cluster: "demo",
    runtime: "native",
    ok: false,
    durationMs: 12_300,
    checks: [
      { name: "health", scenario: "health", ok: true, detail: "4 nodes healthy", durationMs: 120 },
      { name: "memcached-node-loss", scenario: "memcached-node-loss", ok: false, detail, durationMs: 8_400 },
    ],
  };
}

/** The table's lines (the summary lines after it left out), ANSI codes removed. */
function tableLines(text: string): string[] {
  const lines = stripAnsi(text).split("\n");
  return lines.slice(
    0,
    lines.findIndex((l) => /checks passed/.test(l)),
  );
}

/** Lines of the table that belong to the row starting with `name`, continuation lines included. */
function rowLines(lines: string[], name: string): string[] {
  const start = lines.findIndex((l) => l.startsWith(name));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith(" "));
  return lines.slice(start, end === -1 ? undefined : end);
}

describe("the verify table at a width", () => {
  it("at 80 columns every line fits and the detail wraps under its own column, whole words only", () => {
    const lines = tableLines(formatVerify(report(), PLAIN_STYLE, 80));
    const detailAt = lines[0]?.indexOf("DETAIL") ?? -1;
    expect(detailAt).toBeGreaterThan(0);
    for (const l of lines) expect(stringWidth(l), l).toBeLessThanOrEqual(80);
    const row = rowLines(lines, "memcached-node-loss");
    expect(row.length).toBeGreaterThan(1);
    for (const more of row.slice(1)) {
      // under the DETAIL column: spaces up to it, text from it on, nothing in the first columns
      expect(more.slice(0, detailAt)).toBe(" ".repeat(detailAt));
      expect(more[detailAt]).not.toBe(" ");
    }
    const detail = row.map((l) => l.slice(detailAt)).join(" ");
    // no word split across lines: the words are the detail's words, in order
    expect(detail.split(" ")).toEqual(LONG.split(" "));
  });

  it("colours take no columns: the coloured table lines up exactly as the plain one", () => {
    const plain = tableLines(formatVerify(report(), PLAIN_STYLE, 80));
    const coloured = formatVerify(report(), createStyle(true), 80);
    expect(coloured).toMatch(/\u001b\[/);
    expect(tableLines(coloured)).toEqual(plain);
  });

  it("a word longer than the detail column is broken there, and only that word", () => {
    const huge = "x".repeat(70);
    const lines = tableLines(formatVerify(report(`see ${huge} then`), PLAIN_STYLE, 80));
    for (const l of lines) expect(stringWidth(l), l).toBeLessThanOrEqual(80);
    const detailAt = lines[0]?.indexOf("DETAIL") ?? -1;
    const parts = rowLines(lines, "memcached-node-loss").map((l) => l.slice(detailAt));
    expect(parts.length).toBeGreaterThan(1);
    // the short words are whole, and nothing but the long word is cut
    expect(parts[0]).toMatch(/^see( x+)?$/);
    expect(parts.at(-1)).toMatch(/(^| )then$/);
    expect(parts.join("").replaceAll(" ", "")).toBe(`see${huge}then`);
  });

  it("a short table is unchanged by a width it fits in", () => {
    const t = table(["A", "B"], [["x", "short"]], { width: 80 });
    expect(t).toBe("A  B\nx  short");
  });

  it("the node table wraps its DETAIL the same way", () => {
    const text = formatNodes(
      [
        {
          name: "memcached1",
          role: "memcached",
          state: "unhealthy",
          address: "127.0.0.1:11211",
          pid: 7,
          detail: LONG,
        },
      ],
      PLAIN_STYLE,
      80,
    );
    const lines = text.split("\n");
    const detailAt = lines[0]?.indexOf("DETAIL") ?? -1;
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(stringWidth(l)).toBeLessThanOrEqual(80);
    for (const more of lines.slice(2)) expect(more.slice(0, detailAt).trim()).toBe("");
  });
});

describe("the width a reporter gives its tables", () => {
  function stdoutOf(tty: { isTTY: boolean; columns?: number }) {
    const stream = Object.assign(new PassThrough(), tty);
    let text = "";
    stream.on("data", (d) => {
      text += d;
    });
    return { stream, text: () => text };
  }

  it("is 80 when stdout is not a terminal", () => {
    const out = stdoutOf({ isTTY: false, columns: 200 });
    const r = selectReporter({
      json: false,
      color: false,
      env: {},
      streams: { stdout: out.stream, stderr: new PassThrough() },
      isTTY: false,
    });
    r.result("verify", report(), formatVerify);
    const lines = tableLines(out.text());
    expect(Math.max(...lines.map((l) => stringWidth(l)))).toBeLessThanOrEqual(80);
    expect(lines.length).toBeGreaterThan(3);
  });

  it("is the terminal's columns when stdout is one", () => {
    const wide = stdoutOf({ isTTY: true, columns: 300 });
    const narrow = stdoutOf({ isTTY: true, columns: 60 });
    for (const out of [wide, narrow])
      selectReporter({
        json: false,
        color: true,
        env: {},
        streams: { stdout: out.stream, stderr: new PassThrough() },
        isTTY: true,
      }).detail(report(), formatVerify);
    expect(tableLines(wide.text())).toHaveLength(3); // header and two rows, nothing wrapped
    const lines = tableLines(narrow.text());
    for (const l of lines) expect(stringWidth(l)).toBeLessThanOrEqual(60);
    expect(lines.length).toBeGreaterThan(5);
  });
});
