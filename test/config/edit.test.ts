import { describe, expect, it } from "vitest";
import { renderInitFiles } from "../../src/render/init.js";
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

describe("editTopologyText on an init file: only the lines a change must touch", () => {
  const INIT = renderInitFiles("phpcluster.yml", "shop", "schema.json")[0]?.content ?? "";
  const lines = (text: string) => text.split("\n");
  /** The lines of `after` that are not in `before` (and the other way), in order. */
  const diff = (before: string, after: string) => {
    const a = lines(before);
    const b = lines(after);
    let head = 0;
    while (head < a.length && a[head] === b[head]) head++;
    let tail = 0;
    while (tail < a.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
    return { removed: a.slice(head, a.length - tail), added: b.slice(head, b.length - tail) };
  };

  it("a new directive is one new line under app.ini, indented like its siblings", () => {
    const next = editTopologyText(INIT, "t.yml", [{ path: ["app", "ini", "display_errors"], value: "On" }]);
    expect(diff(INIT, next)).toEqual({ removed: [], added: ["    display_errors: On"] });
  });

  it("a new node override adds its lines and nothing else", () => {
    const next = editTopologyText(INIT, "t.yml", [
      { path: ["app", "nodes", "app2", "ini", "memory_limit"], value: "1G" },
    ]);
    expect(diff(INIT, next)).toEqual({
      removed: [],
      added: ["  nodes:", "    app2:", "      ini:", "        memory_limit: 1G"],
    });
  });

  it("a new section goes at the end; a new key of a section at the end of the section", () => {
    const swarm = editTopologyText(INIT, "t.yml", [{ path: ["swarm", "encrypted"], value: false }]);
    expect(diff(INIT, swarm)).toEqual({ removed: [], added: ["swarm:", "  encrypted: false"] });
    const tls = editTopologyText(INIT, "t.yml", [{ path: ["balancer", "tls"], value: true }]);
    expect(diff(INIT, tls)).toEqual({ removed: [], added: ["  tls: true"] });
    expect(tls.indexOf("  tls: true")).toBeLessThan(tls.indexOf("\napp:"));
  });

  it("unset removes the key's own line, comment included, and nothing else", () => {
    const next = editTopologyText(INIT, "t.yml", [{ path: ["memcached", "memory"], value: undefined }]);
    const d = diff(INIT, next);
    expect(d.added).toEqual([]);
    expect(d.removed).toHaveLength(1);
    expect(d.removed[0]).toMatch(/^ {2}memory: 64 +# /);
  });

  it("set then unset of a new key gives the file back byte for byte", () => {
    const path = ["app", "nodes", "app1", "ini", "max_execution_time"];
    const added = editTopologyText(INIT, "t.yml", [{ path, value: 60 }]);
    expect(editTopologyText(added, "t.yml", [{ path, value: undefined }])).toBe(INIT);
  });

  it("a flow mapping is still edited (by the document), keeping the comments", () => {
    const text = "# mine\nname: shop\napp: {replicas: 2}\n";
    const next = editTopologyText(text, "t.yml", [{ path: ["app", "ini", "memory_limit"], value: "1G" }]);
    expect(next).toContain("# mine");
    expect(next).toContain("memory_limit: 1G");
  });
});
