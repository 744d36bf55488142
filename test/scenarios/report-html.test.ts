import { describe, expect, it } from "vitest";
import type { VerifyReport } from "../../src/scenarios/report.js";
import { verifyHtml } from "../../src/scenarios/report-html.js";

const report: VerifyReport = {
  cluster: "shop",
  runtime: "native",
  ok: false,
  durationMs: 12_345,
  versions: { php: "8.2.36", memcachedServers: "1.6.18" },
  checks: [
    { name: "health", scenario: "health", ok: true, detail: "4 nodes healthy", durationMs: 100 },
    {
      name: "kill-owner app1",
      scenario: "kill-owner",
      ok: false,
      detail: 'node said <script>alert("x")</script> & left',
      durationMs: 2000,
      timeline: {
        startedAt: "2026-12-03T00:00:00.000Z",
        nodes: ["app1", "</script><b>"],
        t: [0, 10, 20],
        ms: [3, 4, 900],
        node: [0, 1, -1],
        outcome: [0, 0, 3],
        events: [{ t: 15, kind: "kill", label: "kill app1" }],
        dropped: 0,
      },
    },
  ],
};

describe("verify --report's HTML", () => {
  it("escapes what the checks say, and nothing in the embedded samples can end their script element", async () => {
    const html = await verifyHtml(report, new Date("2026-12-03T10:00:00Z"));
    expect(html).not.toContain('<script>alert("x")</script>');
    expect(html).toContain("node said &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; left");
    const json = /<script type="application\/json" id="phpcluster-timelines">(.*?)<\/script>/s.exec(
      html,
    )?.[1];
    expect(json).toBeDefined();
    expect(JSON.parse(json ?? "")[0].nodes).toEqual(["app1", "</script><b>"]);
    expect(html.match(/<\/script>/g)).toHaveLength(3); // the samples, uPlot, the chart script
  });

  it("has the table, versions, date and one chart per check with a timeline; loads nothing", async () => {
    const html = await verifyHtml(report, new Date("2026-12-03T10:00:00Z"));
    expect(html).toContain("<title>phpcluster verify shop: FAILED</title>");
    expect(html).toContain("2026-12-03T10:00:00Z");
    expect(html).toContain("<td>PHP</td><td>8.2.36</td>");
    expect(html).toContain("<td>memcached (servers)</td><td>1.6.18</td>");
    expect(html.match(/class="timeline-chart"/g)).toHaveLength(1);
    expect(html).toContain("3 requests: 2 ok, 0 empty, 0 stale, 1 failed");
    expect(html).toContain("0.01 s: kill app1");
    expect(html).toContain("default-src 'none'");
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
  });
});
