import { describe, expect, it } from "vitest";
import type { ScenarioContext } from "../../src/scenarios/context.js";
import { recorded, timed } from "../../src/scenarios/report.js";
import type { ProbeReply } from "../../src/scenarios/session-client.js";
import { OUTCOMES, outcomeCounts, TIMELINE_CAP, TimelineRecorder } from "../../src/scenarios/timeline.js";

const reply = (status: number, servedBy?: string, ms = 3.14321): ProbeReply => ({
  status,
  servedBy,
  body: {},
  ms,
});

describe("a check's timeline", () => {
  it("keeps every request in columns, each node once, failures without a node as -1", () => {
    const r = new TimelineRecorder();
    const t0 = performance.now();
    r.add(reply(200, "app1"), t0);
    r.add(reply(200, "app2"), t0);
    r.add(reply(200, "app1"), t0);
    r.add(reply(0), t0);
    r.mark("kill", "kill app1");
    const t = r.toJSON();
    expect(t.nodes).toEqual(["app1", "app2"]);
    expect(t.node).toEqual([0, 1, 0, -1]);
    expect(t.ms).toEqual([3.1, 3.1, 3.1, 3.1]);
    expect(t.outcome.map((o) => OUTCOMES[o])).toEqual(["ok", "ok", "ok", "failed"]);
    expect(t.events).toEqual([{ t: expect.any(Number), kind: "kill", label: "kill app1" }]);
    expect(t.t).toHaveLength(4);
    expect(Number.isNaN(Date.parse(t.startedAt))).toBe(false);
  });

  it("a load's verdict (empty, stale) replaces the status's", () => {
    const r = new TimelineRecorder();
    const a = reply(200, "app1");
    const b = reply(200, "app2");
    r.add(a, performance.now());
    r.add(b, performance.now());
    r.classify(b, "stale");
    r.classify(reply(200, "app3"), "empty"); // never added: ignored
    expect(outcomeCounts(r.toJSON())).toEqual({ ok: 1, empty: 0, stale: 1, failed: 0 });
  });

  it("past the cap, requests are counted as dropped and not kept", () => {
    const r = new TimelineRecorder();
    for (let i = 0; i < TIMELINE_CAP + 5; i++) r.add(reply(200, "app1"), performance.now());
    const t = r.toJSON();
    expect(t.t).toHaveLength(TIMELINE_CAP);
    expect(t.dropped).toBe(5);
    expect(r.size).toBe(TIMELINE_CAP + 5);
  });

  it("recorded records into the check, and puts the outer recording back", async () => {
    const ctx = {} as ScenarioContext;
    const outer = new TimelineRecorder();
    ctx.recording = outer;
    const check = await recorded(ctx, "kill-owner", "kill-owner app1", async () => {
      ctx.recording?.add(reply(200, "app1"), performance.now());
      ctx.recording?.mark("kill", "kill app1");
      return { ok: true, detail: "" };
    });
    expect(check.timeline?.nodes).toEqual(["app1"]);
    expect(check.timeline?.events.map((e) => e.kind)).toEqual(["kill"]);
    expect(ctx.recording).toBe(outer);
    expect(outer.size).toBe(0);
  });

  it("a check that failed keeps what it recorded; one that sent nothing has no timeline", async () => {
    const ctx = {} as ScenarioContext;
    const failed = await recorded(ctx, "rolling-restart", "rolling-restart", async () => {
      ctx.recording?.add(reply(502, "app2"), performance.now());
      throw new Error("app2 did not come back");
    });
    expect(failed.ok).toBe(false);
    expect(failed.timeline?.outcome.map((o) => OUTCOMES[o])).toEqual(["failed"]);
    const quiet = await recorded(ctx, "health", "health", async () => ({ ok: true, detail: "" }));
    expect(quiet.timeline).toBeUndefined();
    // timed records nothing, even with a recording open around it
    ctx.recording = new TimelineRecorder();
    const plain = await timed("health", "health", async () => {
      ctx.recording?.add(reply(200, "app1"), performance.now());
      return { ok: true, detail: "" };
    });
    expect(plain.timeline).toBeUndefined();
  });
});
