import { describe, expect, it } from "vitest";
import { durationNs } from "../../src/runtime/swarm/driver.js";

describe("durationNs (a stack file's duration as Swarm keeps it)", () => {
  it("reads the units a stack file uses", () => {
    expect(durationNs("10s")).toBe(10e9);
    expect(durationNs("5s")).toBe(5e9);
    expect(durationNs("1m30s")).toBe(90e9);
    expect(durationNs("500ms")).toBe(5e8);
    expect(durationNs("0s")).toBe(0);
  });
  it("says nothing for a missing value", () => {
    expect(durationNs(undefined)).toBeUndefined();
  });
});
