import { describe, expect, it } from "vitest";
import { defaultScenarios } from "../../src/scenarios/registry.js";
import { checkTopologyText } from "../../src/topology/index.js";

const topology = (memcached: number, replicas: number, extra = "") => {
  const { topology: t, errors } = checkTopologyText(
    `name: shop\nsessions:\n  replicas: ${replicas}\nmemcached:\n  nodes: ${memcached}\n${extra}`,
    "t.yml",
  );
  expect(errors).toEqual([]);
  return t!;
};

describe("verify's default scenarios", () => {
  it("one memcached node: no memcached scenario", () => {
    const names = defaultScenarios(topology(1, 0));
    expect(names).not.toContain("memcached-node-loss");
    expect(names).not.toContain("memcached-restart");
    expect(names).toContain("kill-owner");
  });

  it("two nodes with a replica: both memcached scenarios", () => {
    expect(defaultScenarios(topology(2, 1))).toEqual(
      expect.arrayContaining(["memcached-node-loss", "memcached-restart", "rolling-restart"]),
    );
  });

  it("two nodes without replicas: neither, since both can only show a loss (asked for, they run)", () => {
    const names = defaultScenarios(topology(2, 0));
    expect(names).not.toContain("memcached-node-loss");
    expect(names).not.toContain("memcached-restart");
  });

  it("host-drain only on the swarm runtime", () => {
    expect(defaultScenarios(topology(2, 1))).not.toContain("host-drain");
    expect(defaultScenarios(topology(2, 1, "runtime: swarm\nbalancer:\n  bind: 0.0.0.0\n"))).toContain(
      "host-drain",
    );
  });
});
