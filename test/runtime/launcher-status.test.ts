import { describe, expect, it } from "vitest";
import type { NodeReading } from "../../src/runtime/driver.js";
import { withLauncherStatus } from "../../src/runtime/kit/index.js";

const running = (): NodeReading => ({ state: "running", address: "10.0.0.2:11211" });
const recovery = { reason: "start", awayMs: 900, copyMs: 50, copied: 12, holdMs: 300 };

describe("withLauncherStatus: a memcached node's reading with its launcher's word", () => {
  it("a warming node whose port answers is unhealthy, and says why", () => {
    const r = running();
    withLauncherStatus(r, { state: "warming", items: 3 });
    expect(r).toMatchObject({
      state: "unhealthy",
      warming: true,
      items: 3,
      detail: "warming: filling from its peers",
    });
  });

  it("a serving node stays running, with its items and last return", () => {
    const r = running();
    withLauncherStatus(r, { state: "serving", items: 40, lastRecovery: recovery as never });
    expect(r).toEqual({ ...running(), warming: false, items: 40, recovery });
  });

  it("a stopped node stays stopped, warming or not", () => {
    const r: NodeReading = { state: "stopped", address: "" };
    withLauncherStatus(r, { state: "warming" });
    expect(r.state).toBe("stopped");
  });
});
