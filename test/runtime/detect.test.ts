import { describe, expect, it } from "vitest";
import { type AutoProbe, decideAuto, decideRuntime } from "../../src/runtime/detect.js";

const BASE = "debian:trixie-slim";
const engine = { answers: true, serverVersion: "20.10.24" };
const noEngine = { answers: false, error: "Cannot connect to the Docker daemon" };

describe("runtime auto: what runs the topology end to end here", () => {
  it.each<[string, AutoProbe, "compose" | "native", RegExp]>([
    [
      "engine and base image there",
      { engine, baseImage: { present: true, pullable: undefined }, native: true },
      "compose",
      /engine answers and the base image debian:trixie-slim is on it/,
    ],
    [
      "engine, base image pullable",
      { engine, baseImage: { present: false, pullable: true }, native: true },
      "compose",
      /can pull the base image/,
    ],
    [
      "engine without the base image, native installed",
      { engine, baseImage: { present: false, pullable: false }, native: true },
      "native",
      /base image debian:trixie-slim is not on the Docker engine and cannot be pulled; nginx, Apache\+mod_php and memcached are installed/,
    ],
    [
      "no engine, native installed",
      { engine: noEngine, baseImage: undefined, native: true },
      "native",
      /no Docker engine answers; nginx/,
    ],
    [
      "engine without the base image, nothing native",
      { engine, baseImage: { present: false, pullable: false }, native: false },
      "compose",
      /not on it and cannot be pulled, and the native runtime's programs are not installed/,
    ],
    [
      "nothing at all",
      { engine: noEngine, baseImage: undefined, native: false },
      "native",
      /phpcluster doctor says which/,
    ],
  ])("%s", (_name, probe, runtime, reason) => {
    const decision = decideAuto(probe, BASE);
    expect(decision.runtime).toBe(runtime);
    expect(decision.reason).toMatch(reason);
  });

  it("an explicit runtime wins without asking anything", async () => {
    const probe = () => Promise.reject(new Error("must not probe"));
    await expect(decideRuntime("swarm", {}, BASE, probe)).resolves.toEqual({
      runtime: "swarm",
      reason: "asked for",
    });
  });
});
