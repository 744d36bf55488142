import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { TEMPLATES_DIR, templateEngine } from "../render/templates.js";
import type { VerifyReport } from "./report.js";
import { outcomeCounts } from "./timeline.js";

const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

/** Its own engine: every `{{ }}` is HTML-escaped (check details and node names are text), raw only where the template says. */
const engine = templateEngine({ outputEscape: "escape" });

const asset = (file: string) => readFileSync(file, "utf8");

/** JSON inside a <script> element: nothing in it can close the element or open a comment. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

const VERSION_NAMES: Record<string, string> = {
  php: "PHP",
  server: "Web server (app nodes)",
  memcached: "php-memcached",
  libmemcached: "libmemcached",
  memcachedServers: "memcached (servers)",
  balancer: "Balancer",
};

/**
 * `verify --report`: one self-contained HTML file (no network: uPlot's script and style are
 * inlined) with the checks table (readable without JavaScript), the cluster, the versions, the
 * date, and for every check that put load on the cluster a chart of every request it made.
 */
export async function verifyHtml(report: VerifyReport, generatedAt = new Date()): Promise<string> {
  const timelines = report.checks.flatMap((c, index) =>
    c.timeline ? [{ name: c.name, timeline: c.timeline, index }] : [],
  );
  const context = {
    cluster: report.cluster,
    runtime: report.runtime,
    ok: report.ok,
    passed: report.checks.filter((c) => c.ok).length,
    total: report.checks.length,
    seconds: (report.durationMs / 1000).toFixed(1),
    generatedAt: generatedAt.toISOString().replace(/\.\d+Z$/, "Z"),
    version: pkg.version,
    versions: Object.entries(report.versions ?? {}).map(([k, value]) => ({
      name: VERSION_NAMES[k] ?? k,
      value,
    })),
    checks: report.checks.map((c, index) => ({
      index,
      name: c.name,
      ok: c.ok,
      seconds: (c.durationMs / 1000).toFixed(1),
      detail: c.detail,
      timeline: c.timeline !== undefined,
    })),
    timelines: timelines.map(({ name, timeline: t, index }, chart) => {
      return {
        index,
        chart,
        name,
        requests: t.t.length + t.dropped,
        dropped: t.dropped,
        counts: outcomeCounts(t),
        slowest: Math.round(t.ms.reduce((a, b) => Math.max(a, b), 0)),
        nodes: t.nodes.length > 0 ? t.nodes.join(", ") : "no node",
        events: t.events.map((e) => ({ at: (e.t / 1000).toFixed(2), label: e.label })),
      };
    }),
    timelinesJson: scriptJson(timelines.map((x) => x.timeline)),
    uplotCss: asset(require.resolve("uplot/dist/uPlot.min.css")),
    uplotJs: asset(require.resolve("uplot/dist/uPlot.iife.min.js")),
    chartJs: asset(fileURLToPath(new URL("report/timeline.js", TEMPLATES_DIR))),
  };
  const html: unknown = await engine.renderFile("report/verify.html.liquid", context);
  if (typeof html !== "string") throw new Error("the report template did not render to text");
  return html;
}
