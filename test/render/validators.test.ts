/**
 * The rendered files judged by the real programs that will read them: nginx -t, apache2 -t,
 * the PHP CLI with the rendered php.ini, php -l, the Compose JSON Schema and docker-compose v1.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { composeAddresses, type RenderedFile, renderCluster } from "../../src/render/index.js";
import { appNodeNames, memcachedNodeNames, type Topology } from "../../src/topology/index.js";
import {
  apache2PhpDir,
  apacheConfigTest,
  appNodeEnv,
  composeSchemaErrors,
  dockerComposeConfig,
  makeTempDir,
  nginxConfigTest,
  phpLint,
  phpWithIni,
  removeDir,
  requireBinary,
  run,
  writeTree,
} from "../helpers/validators.js";
import { FIXTURE_NAMES, type FixtureName, fixture, ROOT_FROM_OUT, topologyFrom } from "./fixtures.js";

const has = {
  nginx: requireBinary("nginx"),
  apache2: requireBinary("apache2"),
  php: requireBinary("php"),
  dockerCompose: requireBinary("docker-compose"),
};

const TARGETS = ["native", "compose"] as const;

interface Layout {
  /** The user's project: topology file, public/ and .phpcluster/<name>/render. */
  project: string;
  docroot: string;
  out: Record<(typeof TARGETS)[number], string>;
  state: string;
  files: Record<(typeof TARGETS)[number], RenderedFile[]>;
}

const tmp = makeTempDir("render-validators");
afterAll(() => removeDir(tmp));

function layout(name: FixtureName, t: Topology): Layout {
  const project = path.join(tmp, name, "project");
  const docroot = path.join(project, "public");
  fs.mkdirSync(docroot, { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(docroot, "index.php"), "<?php echo 'hello';\n");
  const out = {
    native: path.join(project, ".phpcluster", name, "render-native"),
    compose: path.join(project, ".phpcluster", name, "render"),
  };
  const files = {
    native: renderCluster(t, { target: "native", rootFromOut: ROOT_FROM_OUT }),
    compose: renderCluster(t, { target: "compose", rootFromOut: ROOT_FROM_OUT }),
  };
  for (const target of TARGETS) writeTree(out[target], files[target]);
  if (t.balancer.tls) {
    // the certificate and key create makes in <state>/tls/ (native nginx.conf reaches them as ../../tls/)
    const tls = path.join(project, ".phpcluster", name, "tls");
    fs.mkdirSync(tls, { recursive: true });
    run("openssl", [
      ...[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
      ],
      ...["-subj", "/CN=localhost", "-keyout", path.join(tls, "key.pem"), "-out", path.join(tls, "cert.pem")],
    ]);
    // compose mounts them at /etc/phpcluster/tls: nginx -t reads a copy pointing at them here
    const conf = path.join(out.compose, "nginx", "nginx.conf");
    fs.writeFileSync(
      path.join(out.compose, "nginx", "nginx.test.conf"),
      fs.readFileSync(conf, "utf8").replaceAll("/etc/phpcluster/tls/", `${tls}/`),
    );
  }
  return { project, docroot, out, state: path.join(tmp, name, "state"), files };
}

describe.each(FIXTURE_NAMES)("%s, judged by real programs", (name) => {
  const t = fixture(name);
  let l: Layout;
  beforeAll(() => {
    l = layout(name, t);
  });

  describe.each(TARGETS)("%s target", (target) => {
    it.skipIf(!has.nginx)("nginx -t accepts nginx.conf", () => {
      const prefix = path.join(l.state, target, "lb");
      const test = path.join(l.out[target], "nginx/nginx.test.conf");
      const result = nginxConfigTest(
        prefix,
        fs.existsSync(test) ? test : path.join(l.out[target], "nginx/nginx.conf"),
      );
      expect(result.status, result.output).toBe(0);
      expect(result.stderr).toContain("test is successful");
      expect(result.stderr, result.output).not.toMatch(/\[(warn|emerg|alert|crit)\]/);
    });

    it.skipIf(!has.apache2)("apache2 -t accepts the httpd.conf of every app node", () => {
      for (const node of appNodeNames(t)) {
        const app = appNodeEnv(path.join(l.state, target), l.out[target], node, l.docroot);
        const result = apacheConfigTest(app, path.join(l.out[target], node, "httpd.conf"));
        expect(result.status, result.output).toBe(0);
        expect(result.stderr, result.output).toContain("Syntax OK");
        // AH00111: a ${VAR} that is not defined; AH00112: a directory that does not exist.
        expect(result.stderr, result.output).not.toMatch(/AH\d+|warn|error/i);
      }
    });

    it.skipIf(!has.php)("PHP loads every php.ini cleanly: memcached loaded, sessions in Memcached", () => {
      const expectedSavePath =
        target === "native"
          ? undefined
          : memcachedNodeNames(t)
              .map((m) => `${composeAddresses(t).nodes[m]}:11211`)
              .join(",");
      const savePaths = new Set<string>();
      for (const node of appNodeNames(t)) {
        const ini = path.join(l.out[target], node, "php.ini");
        const { result, report } = phpWithIni(ini, [
          "session.save_handler",
          "session.save_path",
          "session.name",
          "session.cookie_samesite",
          "memcached.sess_number_of_replicas",
          "memcached.sess_binary_protocol",
        ]);
        expect(result.status, result.output).toBe(0);
        expect(result.stderr, result.output).toBe("");
        expect(result.stdout, result.output).not.toMatch(/Warning|already loaded|Deprecated/i);
        // the distribution's php.ini, its conf.d, and last the rendered php.ini
        expect(report?.loaded).toBe(`${apache2PhpDir()}/php.ini`);
        expect(report?.scanned.at(-1)).toBe(ini);
        expect(report?.memcached).toBe(true);
        expect(report?.igbinary).toBe(true);
        expect(report?.msgpack).toBe(true);
        expect(report?.ini["session.save_handler"]).toBe("memcached");
        expect(report?.ini["session.name"]).toBe(t.sessions.name);
        expect(report?.ini["session.cookie_samesite"]).toBe(t.sessions.cookie.sameSite);
        expect(report?.ini["memcached.sess_number_of_replicas"]).toBe(String(t.sessions.replicas));
        expect(report?.ini["memcached.sess_binary_protocol"]).toBe(t.sessions.replicas > 0 ? "1" : "");
        savePaths.add(String(report?.ini["session.save_path"]));
      }
      expect(savePaths.size).toBe(1);
      if (expectedSavePath !== undefined) expect([...savePaths][0]).toBe(expectedSavePath);
    });

    it.skipIf(!has.php)("php -l accepts probe.php and health.php", () => {
      for (const file of ["probe/probe.php", "probe/health.php"]) {
        const result = phpLint(path.join(l.out[target], file));
        expect(result.status, result.output).toBe(0);
      }
    });
  });

  it("the Compose file is valid against the Compose JSON Schema", () => {
    const text = fs.readFileSync(path.join(l.out.compose, "docker-compose.yml"), "utf8");
    expect(composeSchemaErrors(text)).toEqual([]);
  });

  it.skipIf(!has.dockerCompose)("docker-compose v1 accepts the Compose file", () => {
    const file = path.join(l.out.compose, "docker-compose.yml");
    const quiet = dockerComposeConfig(file);
    expect(quiet.status, quiet.output).toBe(0);
    expect(quiet.stderr, quiet.output).toBe("");

    // What Compose makes of it: the bind mounts resolve to the user's files.
    const full = dockerComposeConfig(file, []);
    expect(full.status, full.output).toBe(0);
    const config = parseYaml(full.stdout) as {
      services: Record<string, { volumes?: { source: string; target: string }[]; ports?: unknown[] }>;
    };
    const app1 = config.services.app1;
    expect(app1?.volumes?.find((v) => v.target === "/var/www/app")?.source).toBe(l.docroot);
    expect(app1?.volumes?.find((v) => v.target === "/etc/phpcluster")?.source).toBe(
      path.join(l.out.compose, "app1"),
    );
    expect(fs.existsSync(path.join(l.out.compose, "app1", "php.ini"))).toBe(true);
  });
});

describe("the PHP CLI reads values as rendered", () => {
  it.skipIf(!has.php)("node overrides, constant expressions and quoted values", () => {
    const t = fixture("round-robin-replicas");
    const dir = makeTempDir("ini-values");
    try {
      writeTree(dir, renderCluster(t, { target: "native", rootFromOut: ROOT_FROM_OUT }));
      const keys = [
        "memory_limit",
        "display_errors",
        "error_reporting",
        "session.cookie_path",
        "date.timezone",
      ];
      const app1 = phpWithIni(path.join(dir, "app1/php.ini"), keys).report;
      const app2 = phpWithIni(path.join(dir, "app2/php.ini"), keys).report;
      expect(app1?.ini.memory_limit).toBe("256M");
      expect(app2?.ini.memory_limit).toBe("512M");
      expect(app1?.ini.display_errors).toBe("");
      expect(app2?.ini.display_errors).toBe("1");
      // E_ALL & ~E_DEPRECATED, evaluated by PHP: the expression was rendered bare.
      expect(app1?.ini.error_reporting).toBe(String(32767 & ~8192));
      expect(app1?.ini["session.cookie_path"]).toBe("/shop app");
      expect(app1?.ini["date.timezone"]).toBe("Europe/Amsterdam");
    } finally {
      removeDir(dir);
    }
  });
});

describe("nginx -t accepts a drained upstream with every method", () => {
  const dir = makeTempDir("drained");
  afterAll(() => removeDir(dir));
  it.skipIf(!has.nginx).each(["sticky", "round-robin", "least-conn"])("%s", (strategy) => {
    const t = topologyFrom(`name: drain\nbalancer:\n  strategy: ${strategy}\napp:\n  replicas: 3\n`);
    const out = path.join(dir, strategy);
    writeTree(
      out,
      renderCluster(t, { target: "native", rootFromOut: ROOT_FROM_OUT, drained: ["app1", "app3"] }),
    );
    const conf = path.join(out, "nginx/nginx.conf");
    // drained in the upstream and in its fallback
    expect(fs.readFileSync(conf, "utf8").match(/ down;/g)).toHaveLength(4);
    const result = nginxConfigTest(path.join(out, "prefix"), conf);
    expect(result.status, result.output).toBe(0);
  });
});

describe("the validators reject broken files", () => {
  const dir = makeTempDir("validators-negative");
  afterAll(() => removeDir(dir));
  const files = renderCluster(fixture("defaults"), { target: "native", rootFromOut: ROOT_FROM_OUT });
  const broken = (path: string, edit: (text: string) => string): RenderedFile[] =>
    files.map((f) => (f.path === path ? { ...f, content: edit(f.content) } : f));

  it.skipIf(!has.nginx)("nginx -t: an unknown directive", () => {
    const out = path.join(dir, "nginx");
    writeTree(
      out,
      broken("nginx/nginx.conf", (text) => text.replace("stub_status;", "stub_statuz;")),
    );
    const result = nginxConfigTest(path.join(out, "prefix"), path.join(out, "nginx/nginx.conf"));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("stub_statuz");
  });

  it.skipIf(!has.apache2)("apache2 -t: a variable the environment does not define", () => {
    const out = path.join(dir, "apache");
    writeTree(
      out,
      broken("app1/httpd.conf", (text) => text.replace("PHPCLUSTER_PHP_MODULE}", "PHPCLUSTER_NOPE}")),
    );
    const app = appNodeEnv(path.join(out, "state"), out, "app1", path.join(out, "public"));
    const result = apacheConfigTest(app, path.join(out, "app1/httpd.conf"));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("PHPCLUSTER_NOPE");
  });

  it.skipIf(!has.php)(
    "php: an extension loaded twice (on top of the distribution's conf.d) is caught",
    () => {
      const out = path.join(dir, "php");
      writeTree(
        out,
        broken("app1/php.ini", (text) => `extension=memcached\n${text}`),
      );
      const { result } = phpWithIni(path.join(out, "app1/php.ini"), []);
      expect(`${result.stdout}${result.stderr}`).toMatch(/already loaded/i);
    },
  );

  it("the Compose schema: a misspelt service key", () => {
    const text = renderCluster(fixture("defaults"), { target: "compose", rootFromOut: ROOT_FROM_OUT })
      .find((f) => f.path === "docker-compose.yml")
      ?.content.replace("    healthcheck:", "    healthchek:");
    expect(composeSchemaErrors(text ?? "")).not.toEqual([]);
  });

  it("the Compose addresses: a static address that is no IPv4, or outside its subnet", () => {
    const text =
      renderCluster(fixture("defaults"), { target: "compose", rootFromOut: ROOT_FROM_OUT }).find(
        (f) => f.path === "docker-compose.yml",
      )?.content ?? "";
    const address = /ipv4_address: ([0-9.]+)/.exec(text)?.[1] ?? "";
    expect(address).not.toBe("");
    const bad = text.replace(`ipv4_address: ${address}`, "ipv4_address: 10.300.0.1");
    expect(composeSchemaErrors(bad).join("\n")).toMatch(/is not an IPv4 address/);
    const outside = text.replace(`ipv4_address: ${address}`, "ipv4_address: 192.0.2.1");
    expect(composeSchemaErrors(outside).join("\n")).toMatch(/is outside/);
  });
});
