import { describe, expect, it } from "vitest";
import { checkTopologyText, formatIssue } from "../../src/topology/index.js";
import { BROKEN_CASES } from "./broken-cases.js";

describe("checkTopologyText on broken topologies", () => {
  it.each(BROKEN_CASES)("$name", ({ yaml, issues }) => {
    const result = checkTopologyText(yaml, "phpcluster.yml");
    expect(result.topology).toBeUndefined();
    expect(result.errors).toHaveLength(issues.length);
    issues.forEach((want, i) => {
      const got = result.errors[i];
      expect(got, `issue ${i}`).toBeDefined();
      expect(got?.line, formatIssue(got!)).toBe(want.line);
      expect(got?.path).toBe(want.path);
      if (typeof want.message === "string") expect(got?.message).toContain(want.message);
      else expect(got?.message).toMatch(want.message);
      expect(formatIssue(got!)).toMatch(new RegExp(`^phpcluster\\.yml:${want.line}:\\d+ `));
    });
  });
});

describe("checkTopologyText on valid topologies", () => {
  it("fills every default of the contract", () => {
    const { topology, errors } = checkTopologyText("name: shop\n", "t.yml");
    expect(errors).toEqual([]);
    expect(topology).toEqual({
      name: "shop",
      runtime: "auto",
      balancer: {
        port: 8080,
        bind: "127.0.0.1",
        strategy: "sticky",
        connectTimeoutMs: 1000,
        readTimeoutMs: 30000,
        maxFails: 1,
        failTimeoutMs: 10000,
        stickyCookie: "PHPSESSID",
        tls: undefined,
      },
      app: { replicas: 2, root: "./public", ini: {}, extensions: [], nodes: {} },
      sessions: {
        name: "PHPSESSID",
        lifetime: 1440,
        locking: true,
        lockExpireMs: 5000,
        replicas: 0,
        cookie: { secure: false, httpOnly: true, sameSite: "Lax" },
      },
      memcached: { nodes: 1, memory: 64 },
      images: { base: "debian:trixie-slim", registry: "" },
      swarm: { encrypted: true },
    });
  });

  it("normalises ini values and durations", () => {
    const { topology } = checkTopologyText(
      [
        "name: shop",
        "balancer: {connectTimeout: 1500ms, readTimeout: 1m30s}",
        "app:",
        "  ini: {memory_limit: 256M, max_input_vars: 5000, display_errors: true, opcache.enable: false}",
        "  nodes: {app2: {ini: {display_errors: 'On'}}}",
        "",
      ].join("\n"),
      "t.yml",
    );
    expect(topology?.balancer.connectTimeoutMs).toBe(1500);
    expect(topology?.balancer.readTimeoutMs).toBe(90000);
    expect(topology?.app.ini).toEqual({
      memory_limit: "256M",
      max_input_vars: "5000",
      display_errors: "On",
      "opcache.enable": "Off",
    });
    expect(topology?.app.nodes).toEqual({ app2: { ini: { display_errors: "On" } } });
  });

  it("warns, without failing, when an override replaces a directive phpcluster manages", () => {
    const { topology, errors, warnings } = checkTopologyText(
      "name: shop\napp:\n  nodes:\n    app2:\n      ini:\n        session.save_handler: files\n",
      "t.yml",
    );
    expect(errors).toEqual([]);
    expect(topology?.app.nodes.app2?.ini["session.save_handler"]).toBe("files");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ line: 6, path: 'app.nodes.app2.ini["session.save_handler"]' });
  });

  it("warns about app.ini keys PHP does not know, with the closest directive, against the shipped list", () => {
    const text =
      "name: shop\napp:\n  ini:\n    memory_limt: 256M\n    opcache.enable: 1\n    frobnicate.level: 3\n  nodes:\n    app1:\n      ini:\n        display_error: On\n";
    const { errors, warnings } = checkTopologyText(text, "t.yml");
    expect(errors).toEqual([]);
    expect(warnings.map((w) => [w.line, w.path, w.message])).toEqual([
      [
        4,
        "app.ini.memory_limt",
        expect.stringMatching(/not a php.ini directive PHP knows.*did you mean "memory_limit"\?/),
      ],
      [
        6,
        'app.ini["frobnicate.level"]',
        expect.stringMatching(/the frobnicate extension defines it, it is not installed/),
      ],
      [10, "app.nodes.app1.ini.display_error", expect.stringMatching(/did you mean "display_errors"\?/)],
    ]);
  });

  it("checks app.ini keys against the installed PHP's directives as well as the shipped list", () => {
    const text = "name: shop\napp:\n  ini:\n    frobnicate.level: 3\n";
    expect(checkTopologyText(text, "t.yml").warnings).toHaveLength(1);
    expect(checkTopologyText(text, "t.yml", { directives: ["frobnicate.level"] }).warnings).toEqual([]);
  });

  it("a document root that does not exist is an error at app.root, when the loader can look", () => {
    const text = "name: shop\napp:\n  root: ./web\n";
    const missing = checkTopologyText(text, "t.yml", { exists: () => false });
    expect(missing.topology).toBeUndefined();
    expect(missing.errors).toEqual([
      expect.objectContaining({
        line: 3,
        path: "app.root",
        message: expect.stringMatching(/app.root .\/web does not exist/),
      }),
    ]);
    expect(checkTopologyText(text, "t.yml", { exists: (p) => p === "./web" }).errors).toEqual([]);
  });

  it("warns about Memcached layouts that lose sessions when a node fails, and not about safe ones", () => {
    const warningsOf = (text: string) =>
      checkTopologyText(text, "t.yml").warnings.filter((w) => w.path === "sessions.replicas");
    // replicas 0 on two nodes: a crash loses that node's sessions (the line of sessions.replicas)
    expect(warningsOf("name: a\nsessions:\n  replicas: 0\nmemcached:\n  nodes: 2\n")).toEqual([
      expect.objectContaining({ line: 3, message: expect.stringMatching(/crashes loses the sessions/) }),
    ]);
    // three nodes with one replica: php-memcached's reads and writes disagree while one is down
    expect(warningsOf("name: a\nsessions:\n  replicas: 1\nmemcached:\n  nodes: 3\n")).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/set sessions.replicas: 2 for no loss/) }),
    ]);
    expect(warningsOf("name: a\nsessions:\n  replicas: 1\nmemcached:\n  nodes: 2\n")).toEqual([]);
    expect(warningsOf("name: a\nsessions:\n  replicas: 2\nmemcached:\n  nodes: 3\n")).toEqual([]);
    expect(warningsOf("name: a\nsessions:\n  replicas: 0\nmemcached:\n  nodes: 1\n")).toEqual([]);
  });

  it("accepts an explicit public bind and an IPv6 loopback", () => {
    expect(checkTopologyText("name: a\nbalancer: {bind: 0.0.0.0}\n", "t").errors).toEqual([]);
    expect(checkTopologyText("name: a\nbalancer: {bind: '::1'}\n", "t").errors).toEqual([]);
  });

  it("warns that secure cookies need HTTPS, and not once TLS is on", () => {
    const plain = checkTopologyText("name: shop\nsessions:\n  cookie:\n    secure: true\n", "phpcluster.yml");
    expect(plain.errors).toEqual([]);
    expect(plain.warnings).toEqual([
      expect.objectContaining({
        line: 4,
        path: "sessions.cookie.secure",
        message: expect.stringMatching(/turn on balancer.tls/),
      }),
    ]);
    const tls = checkTopologyText(
      "name: shop\nbalancer:\n  tls: true\nsessions:\n  cookie:\n    secure: true\n",
      "phpcluster.yml",
    );
    expect(tls.warnings).toEqual([]);
    expect(tls.topology?.balancer.tls).toEqual({
      port: 8443,
      certificate: undefined,
      key: undefined,
      hsts: false,
    });
  });
});
