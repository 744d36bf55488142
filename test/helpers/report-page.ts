import { mkdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { REPO } from "./cli.js";

/** Debian's chromium package: no browser download. */
export const CHROMIUM = process.env.PHPCLUSTER_CHROMIUM ?? "/usr/bin/chromium";

export interface ChartReading {
  check: string;
  drawn: boolean;
  /** Series with at least one point (nodes, empty/stale, failed). */
  series: number;
  points: number;
  events: number;
  /** Canvas pixels that are not blank: the chart really drew. */
  inked: number;
}

export interface ReportReading {
  title: string;
  /** Console errors and uncaught exceptions of the page. */
  errors: string[];
  /** Every request the page made other than the file itself. */
  requests: string[];
  /** The checks table's rows as text, read with JavaScript off. */
  rowsWithoutScript: string[];
  charts: ChartReading[];
  screenshot: string;
}

/**
 * Open a `verify --report` file in headless Chromium (playwright-core driving Debian's chromium):
 * once with JavaScript off (the table must be there), once with it on (the charts); a full-page
 * screenshot is kept under test/artifacts/.
 */
export async function readReport(file: string, artifact: string): Promise<ReportReading> {
  const url = pathToFileURL(file).href;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox"],
    timeout: 60_000,
  });
  try {
    const plain = await browser.newContext({ javaScriptEnabled: false });
    const p0 = await plain.newPage();
    await p0.goto(url, { waitUntil: "load", timeout: 30_000 });
    const rowsWithoutScript = await p0.$$eval("table.checks tr", (rows) =>
      rows.slice(1).map((r) => (r.textContent ?? "").trim()),
    );
    await plain.close();

    const context = await browser.newContext({ viewport: { width: 1300, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("request", (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    await page.goto(url, { waitUntil: "load", timeout: 30_000 });
    const title = await page.title();
    const charts = await page.$$eval(".timeline-chart", (els) =>
      els.map((el) => {
        const canvas = el.querySelector("canvas");
        let inked = 0;
        if (canvas) {
          const pixels = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data;
          for (let i = 3; pixels && i < pixels.length; i += 4) if ((pixels[i] ?? 0) > 0) inked++;
        }
        return {
          check: el.closest("section")?.querySelector("h2")?.textContent ?? "",
          drawn: el.getAttribute("data-drawn") === "true",
          series: Number(el.getAttribute("data-series")),
          points: Number(el.getAttribute("data-points")),
          events: Number(el.getAttribute("data-events")),
          inked,
        };
      }),
    );
    const dir = path.join(REPO, "test", "artifacts");
    mkdirSync(dir, { recursive: true });
    const screenshot = path.join(dir, artifact);
    await page.screenshot({ path: screenshot, fullPage: true });
    await context.close();
    return { title, errors, requests, rowsWithoutScript, charts, screenshot };
  } finally {
    await browser.close();
  }
}

/** What every `verify --report` page must show: no errors, no requests, the table, every timeline drawn. */
export function expectDrawnReport(
  page: ReportReading,
  checks: { name: string; timeline?: unknown }[],
  expect: typeof import("vitest").expect,
): void {
  expect(page.errors).toEqual([]);
  expect(page.requests).toEqual([]);
  expect(page.rowsWithoutScript).toHaveLength(checks.length);
  const withTimeline = checks.filter((c) => c.timeline).map((c) => c.name);
  expect(withTimeline.length).toBeGreaterThan(0);
  expect(page.charts.map((c) => c.check.replace(": every request", ""))).toEqual(withTimeline);
  for (const c of page.charts) {
    expect(c.drawn, c.check).toBe(true);
    expect(c.series, c.check).toBeGreaterThanOrEqual(1);
    expect(c.points, c.check).toBeGreaterThan(0);
    expect(c.inked, c.check).toBeGreaterThan(1000);
  }
}
