import { describe, expect, it } from "vitest";
import {
  configPath,
  editTopologyText,
  parseValue,
  TopologyError,
  topologyKeys,
} from "../../src/topology/index.js";

const TEXT = [
  "# the shop",
  "name: shop          # aligned comment",
  "balancer:",
  "  port: 8080        # where it is served",
  "app:",
  "  ini:",
  "    memory_limit: 256M",
  "",
].join("\n");

describe("config keys", () => {
  it("maps php.<directive> to app.ini, or to one node's ini with --node", () => {
    expect(configPath("php.session.save_handler")).toEqual(["app", "ini", "session.save_handler"]);
    expect(configPath("php.memory_limit", "app2")).toEqual(["app", "nodes", "app2", "ini", "memory_limit"]);
    expect(configPath("balancer.port")).toEqual(["balancer", "port"]);
  });

  it("rejects unknown keys with a suggestion, and --node on topology keys", () => {
    expect(() => configPath("balancer.prot")).toThrow('did you mean "balancer.port"?');
    expect(() => configPath("balancer.port", "app1")).toThrow("--node applies to php.<directive> keys only");
    expect(() => configPath("php.bad key")).toThrow("is not a php.ini directive name");
  });

  it("lists every leaf of the contract", () => {
    const keys = topologyKeys();
    for (const k of [
      "name",
      "runtime",
      "balancer.port",
      "sessions.cookie.sameSite",
      "memcached.memory",
      "images.base",
    ]) {
      expect(keys).toContain(k);
    }
    expect(keys).not.toContain("app.ini");
  });

  it("reads values as YAML scalars", () => {
    expect(parseValue("8081")).toBe(8081);
    expect(parseValue("true")).toBe(true);
    expect(parseValue("1s")).toBe("1s");
    expect(parseValue("E_ALL & ~E_DEPRECATED")).toBe("E_ALL & ~E_DEPRECATED");
  });
});

describe("editTopologyText", () => {
  it("replaces existing values byte for byte around them, comments and alignment kept", () => {
    const next = editTopologyText(TEXT, "t.yml", [
      { path: ["balancer", "port"], value: 9090 },
      { path: ["app", "ini", "memory_limit"], value: "512M" },
    ]);
    expect(next).toBe(TEXT.replace("port: 8080", "port: 9090").replace("256M", "512M"));
  });

  it("adds new keys and keeps the comments", () => {
    const next = editTopologyText(TEXT, "t.yml", [
      { path: ["app", "nodes", "app2", "ini", "display_errors"], value: "On" },
    ]);
    expect(next).toContain("# the shop");
    expect(next).toContain("# where it is served");
    expect(next).toMatch(/nodes:\n\s+app2:\n\s+ini:\n\s+display_errors: On/);
  });

  it("removes a key and the maps it leaves empty", () => {
    const added = editTopologyText(TEXT, "t.yml", [
      { path: ["app", "nodes", "app2", "ini", "display_errors"], value: "On" },
    ]);
    const removed = editTopologyText(added, "t.yml", [
      { path: ["app", "nodes", "app2", "ini", "display_errors"], value: undefined },
    ]);
    expect(removed).not.toContain("nodes");
    expect(removed).toContain("memory_limit: 256M");
  });

  it("refuses a change that makes the topology invalid, naming the field", () => {
    try {
      editTopologyText(TEXT, "t.yml", [{ path: ["balancer", "port"], value: 0 }]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(TopologyError);
      expect((err as TopologyError).issues[0]).toMatchObject({ path: "balancer.port", line: 4 });
    }
    expect(() =>
      editTopologyText(TEXT, "t.yml", [{ path: ["app", "ini", "memory_limit"], value: "1G; evil" }]),
    ).toThrow(TopologyError);
  });
});
