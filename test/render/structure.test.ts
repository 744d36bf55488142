/** Structural assertions on the rendered files: each one can fail on its own, independent of snapshots. */
import { parse as parseIni } from "ini";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  composeAddresses,
  composeProject,
  fnv1a32,
  HEALTH_PATH,
  iniValue,
  nativeAddresses,
  PROBE_PATH,
  PROBE_SECRET_ENV,
  PROBE_SECRET_HEADER,
  type RenderedFile,
  type RenderOptions,
  renderCluster,
} from "../../src/render/index.js";
import { appNodeNames, memcachedNodeNames, type Topology } from "../../src/topology/index.js";
import { FIXTURE_NAMES, fixture, ROOT_FROM_OUT, topologyFrom } from "./fixtures.js";

const TARGETS = ["native", "compose"] as const;

function render(
  t: Topology,
  options: Partial<RenderOptions> & Pick<RenderOptions, "target">,
): RenderedFile[] {
  return renderCluster(t, { rootFromOut: ROOT_FROM_OUT, ...options });
}

function file(files: RenderedFile[], path: string): string {
  const found = files.find((f) => f.path === path);
  if (found === undefined)
    throw new Error(`${path} was not rendered (${files.map((f) => f.path).join(", ")})`);
  return found.content;
}

function phpIni(files: RenderedFile[], node: string): Record<string, string> {
  return parseIni(file(files, `${node}/php.ini`)) as Record<string, string>;
}

/** The `server` lines inside `upstream phpcluster_app { ... }`. */
function upstreamServers(nginxConf: string): string[] {
  const block = /upstream phpcluster_app \{([^}]*)\}/.exec(nginxConf)?.[1];
  if (block === undefined) throw new Error("no upstream phpcluster_app block");
  return block
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("server "));
}

interface ComposeService {
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  container_name?: string;
  networks?: Record<string, { ipv4_address?: string } | null>;
  environment?: Record<string, string>;
  volumes?: { type: string; source: string; target: string; read_only: boolean }[];
  healthcheck?: { test: string[] };
  command?: string[];
  stop_signal?: string;
  restart?: string;
}

function composeFile(files: RenderedFile[]): {
  services: Record<string, ComposeService>;
  [key: string]: unknown;
} {
  return parseYaml(file(files, "docker-compose.yml"), { version: "1.1" });
}

describe("renderCluster", () => {
  it.each(FIXTURE_NAMES)("%s: is deterministic and keeps machine-specific values out", (name) => {
    for (const target of TARGETS) {
      const first = render(fixture(name), { target });
      const second = render(structuredClone(fixture(name)), { target });
      expect(second).toEqual(first);
      for (const f of first) {
        expect(f.content).not.toContain(process.cwd());
        expect(f.content).not.toMatch(/\b20\d\d-\d\d-\d\d/);
        if (process.env.HOME) expect(f.content).not.toContain(process.env.HOME);
      }
    }
  });

  it.each(TARGETS)("%s: returns relative posix paths sorted by path", (target) => {
    const files = render(fixture("defaults"), { target });
    const paths = files.map((f) => f.path);
    expect(paths).toEqual([...paths].sort());
    for (const p of paths) expect(p).toMatch(/^[a-z0-9][a-z0-9._/-]*$/i);
    for (const p of paths) expect(p.split("/")).not.toContain("..");
    expect(new Set(paths).size).toBe(paths.length);
  });

  it("renders the files of each target", () => {
    const t = fixture("defaults");
    expect(render(t, { target: "native" }).map((f) => f.path)).toEqual([
      "app1/httpd.conf",
      "app1/php.ini",
      "app2/httpd.conf",
      "app2/php.ini",
      "cluster.json",
      "nginx/nginx.conf",
      "probe/health.php",
      "probe/probe.php",
    ]);
    expect(render(t, { target: "compose" }).map((f) => f.path)).toEqual([
      "app1/httpd.conf",
      "app1/php.ini",
      "app2/httpd.conf",
      "app2/php.ini",
      "cluster.json",
      "docker-compose.yml",
      "images/app/Dockerfile",
      "images/lb/Dockerfile",
      "images/memcached/Dockerfile",
      "images/memcached/launcher/client.js",
      "images/memcached/launcher/launcher.js",
      "images/memcached/launcher/package.json",
      "images/memcached/launcher/placement.js",
      "memcached1/launcher.json",
      "nginx/nginx.conf",
      "probe/health.php",
      "probe/probe.php",
    ]);
  });

  it("refuses to drain a node that does not exist", () => {
    expect(() => render(fixture("defaults"), { target: "native", drained: ["app9"] })).toThrow(/app9/);
  });
});

describe("php.ini", () => {
  it.each(FIXTURE_NAMES)("%s: every node stores sessions in every Memcached node, in one order", (name) => {
    const t = fixture(name);
    for (const target of TARGETS) {
      const files = render(t, { target });
      const memcached =
        target === "native"
          ? memcachedNodeNames(t).map((m) => `127.0.0.1:${nativeAddresses(t)[m]?.port}`)
          : memcachedNodeNames(t).map((m) => `${composeAddresses(t).nodes[m]}:11211`);
      const savePaths = appNodeNames(t).map((node) => {
        const ini = phpIni(files, node);
        expect(ini["session.save_handler"]).toBe("memcached");
        expect(ini["session.name"]).toBe(t.sessions.name);
        expect(ini["session.gc_maxlifetime"]).toBe(String(t.sessions.lifetime));
        return ini["session.save_path"];
      });
      expect(new Set(savePaths).size).toBe(1);
      expect(savePaths[0]?.split(",")).toEqual(memcached);
    }
  });

  it.each(
    FIXTURE_NAMES,
  )("%s: loads no extension itself (the distribution's conf.d loads each, once)", (name) => {
    const t = fixture(name);
    for (const node of appNodeNames(t)) {
      const text = file(render(t, { target: "native" }), `${node}/php.ini`);
      expect(text).not.toMatch(/^\s*(zend_)?extension\s*=/m);
      expect(file(render(t, { target: "native" }), `${node}/httpd.conf`)).not.toMatch(/PHPINIDir/);
    }
  });

  it.each(FIXTURE_NAMES)("%s: every directive appears once", (name) => {
    const t = fixture(name);
    for (const node of appNodeNames(t)) {
      const text = file(render(t, { target: "native" }), `${node}/php.ini`);
      const keys = [...text.matchAll(/^([A-Za-z_][\w.]*) = /gm)].map((m) => m[1]);
      expect(keys.length).toBeGreaterThan(20);
      expect(new Set(keys).size).toBe(keys.length);
    }
  });

  it("sets the replica directives only when sessions.replicas > 0", () => {
    const replicated = phpIni(render(fixture("round-robin-replicas"), { target: "native" }), "app1");
    expect(replicated["memcached.sess_binary_protocol"]).toBe("On");
    expect(replicated["memcached.sess_number_of_replicas"]).toBe("1");
    expect(replicated["memcached.sess_remove_failed_servers"]).toBe("On");
    expect(replicated["memcached.sess_server_failure_limit"]).toBe("1");
    expect(replicated["session.lazy_write"]).toBe("Off");

    const single = phpIni(render(fixture("defaults"), { target: "native" }), "app1");
    expect(single["memcached.sess_binary_protocol"]).toBe("Off");
    expect(single["memcached.sess_number_of_replicas"]).toBe("0");
    expect(single["memcached.sess_remove_failed_servers"]).toBe("Off");
    expect(single).not.toHaveProperty("memcached.sess_server_failure_limit");
    expect(single["session.lazy_write"]).toBe("On");
  });

  it("derives the lock settings from sessions.lockExpire and sessions.locking", () => {
    const defaults = phpIni(render(fixture("defaults"), { target: "native" }), "app1");
    expect(defaults["memcached.sess_locking"]).toBe("On");
    expect(defaults["memcached.sess_lock_expire"]).toBe("5");
    expect(defaults["memcached.sess_lock_retries"]).toBe(String(Math.ceil(5000 / 500) + 4));
    const custom = phpIni(render(fixture("least-conn-public"), { target: "native" }), "app1");
    expect(custom["memcached.sess_locking"]).toBe("Off");
    expect(custom["memcached.sess_lock_expire"]).toBe("10");
    expect(custom["memcached.sess_lock_retries"]).toBe("24");
    expect(custom["session.cookie_secure"]).toBe("On");
    expect(custom["session.cookie_samesite"]).toBe("None");
  });

  it("lets a node override win on that node only, and says where values come from", () => {
    const t = fixture("round-robin-replicas");
    const files = render(t, { target: "native" });
    const [app1, app2, app3] = ["app1", "app2", "app3"].map((node) => phpIni(files, node));
    expect(app2?.memory_limit).toBe("512M");
    expect(app2?.display_errors).toBe("On");
    for (const other of [app1, app3]) {
      expect(other?.memory_limit).toBe("256M");
      expect(other?.display_errors).toBe("Off");
    }
    const text = file(files, "app2/php.ini");
    expect(text).toMatch(/; from app\.nodes\.app2\.ini\nmemory_limit = 512M\n/);
    expect(text).toMatch(/; from app\.nodes\.app2\.ini\ndisplay_errors = On\n/);
    expect(file(files, "app1/php.ini")).toMatch(/; from app\.ini\nmemory_limit = 256M\n/);
    expect(file(files, "app1/php.ini")).not.toContain("app.nodes.app2");
  });

  it("quotes a value with a space and leaves numbers, sizes, switches and constants bare", () => {
    const text = file(render(fixture("round-robin-replicas"), { target: "native" }), "app1/php.ini");
    expect(text).toContain('session.cookie_path = "/shop app"\n');
    expect(text).toContain("error_reporting = E_ALL & ~E_DEPRECATED\n");
    expect(text).toContain('date.timezone = "Europe/Amsterdam"\n');
  });

  it.each([
    ["256M", "256M"],
    ["-1", "-1"],
    ["1.5", "1.5"],
    ["On", "On"],
    ["off", "off"],
    ["none", "none"],
    ["E_ALL", "E_ALL"],
    ["E_ALL & ~E_DEPRECATED & ~E_STRICT", "E_ALL & ~E_DEPRECATED & ~E_STRICT"],
    ["Lax", '"Lax"'],
    ["/shop app", '"/shop app"'],
    ["UTC", '"UTC"'],
    ["", '""'],
    ["12 monkeys", '"12 monkeys"'],
  ])("iniValue(%j) = %s", (value, rendered) => {
    expect(iniValue(value)).toBe(rendered);
  });

  it("always quotes session.cookie_samesite (a bare None reads as an empty string)", () => {
    expect(iniValue("None", "session.cookie_samesite")).toBe('"None"');
  });

  it.each(['a"b', "a\nb", "a$b", "a\\b"])("refuses to render %j", (value) => {
    expect(() => iniValue(value)).toThrow();
  });
});

describe("nginx.conf", () => {
  it.each(FIXTURE_NAMES)("%s: the upstream lists every app node exactly once", (name) => {
    const t = fixture(name);
    for (const target of TARGETS) {
      const servers = upstreamServers(file(render(t, { target }), "nginx/nginx.conf"));
      const expected = appNodeNames(t).map((node) =>
        target === "native"
          ? `127.0.0.1:${nativeAddresses(t)[node]?.port}`
          : `${composeAddresses(t).nodes[node]}:80`,
      );
      expect(servers.map((line) => line.split(/\s+/)[1])).toEqual(expected);
      for (const line of servers) {
        expect(line).toContain(`max_fails=${t.balancer.maxFails} `);
        expect(line).not.toMatch(/\bdown\b/);
      }
    }
  });

  it("marks drained nodes down and only them", () => {
    const t = fixture("round-robin-replicas");
    const servers = upstreamServers(
      file(render(t, { target: "compose", drained: ["app2"] }), "nginx/nginx.conf"),
    );
    expect(servers).toHaveLength(3);
    expect(servers.filter((line) => / down;/.test(line))).toEqual([servers[1]]);
    expect(servers[1]).toContain(`${composeAddresses(t).nodes.app2}:80`);
  });

  it("maps each strategy to its nginx method", () => {
    const sticky = file(render(fixture("defaults"), { target: "native" }), "nginx/nginx.conf");
    expect(sticky).toContain("hash $cookie_PHPSESSID consistent;");
    const least = file(render(fixture("least-conn-public"), { target: "native" }), "nginx/nginx.conf");
    expect(least).toContain("least_conn;");
    expect(least).toContain("$cookie_SHOPSESS");
    expect(least).not.toContain("hash ");
    const rr = file(render(fixture("round-robin-replicas"), { target: "native" }), "nginx/nginx.conf");
    expect(rr).not.toMatch(/^\s*(hash|least_conn|ip_hash)\b/m);
    const customSticky = topologyFrom("name: s\nsessions:\n  name: APPSID\n");
    expect(file(render(customSticky, { target: "native" }), "nginx/nginx.conf")).toContain(
      "hash $cookie_APPSID consistent;",
    );
  });

  it("takes timeouts from the topology and bounds the retries", () => {
    const conf = file(render(fixture("least-conn-public"), { target: "native" }), "nginx/nginx.conf");
    expect(conf).toContain("proxy_connect_timeout 500ms;");
    expect(conf).toContain("proxy_read_timeout 1m;");
    expect(conf).toContain("proxy_send_timeout 1m;");
    expect(conf).toContain("max_fails=3 fail_timeout=5s");
    expect(conf).toContain("proxy_next_upstream_tries 3;");
    const single = topologyFrom("name: one\napp:\n  replicas: 1\n");
    expect(file(render(single, { target: "native" }), "nginx/nginx.conf")).toContain(
      "proxy_next_upstream_tries 2;",
    );
    // the six forwarded headers, in the location and in the fallback location
    const forwarded = conf.match(/proxy_set_header /g) ?? [];
    expect(forwarded).toHaveLength(12);
  });

  it("retries a 503 on another node, and sends the request to a fallback upstream once every node is marked failed", () => {
    const conf = file(render(fixture("defaults"), { target: "native" }), "nginx/nginx.conf");
    expect(conf).toContain("proxy_next_upstream error timeout http_502 http_503;");
    expect(conf).toContain("error_page 502 = @phpcluster_fallback;");
    const fallback = conf.match(/upstream phpcluster_app_fallback \{([^}]*)\}/)?.[1] ?? "";
    const main = conf.match(/upstream phpcluster_app \{([^}]*)\}/)?.[1] ?? "";
    const addresses = (block: string) => [...block.matchAll(/server (\S+) /g)].map((m) => m[1]);
    expect(addresses(fallback)).toEqual(addresses(main));
    expect(fallback).not.toMatch(/max_fails=[1-9]/); // no accounting there: it never answers "no live upstreams"
    const location = conf.match(/location @phpcluster_fallback \{([^}]*)\}/)?.[1] ?? "";
    expect(location).toContain("proxy_pass http://phpcluster_app_fallback;");
    expect(location).not.toContain("error_page"); // no loop
  });

  it("passes the request on as the user sent it: Host with its port, the scheme, the public port", () => {
    for (const target of ["native", "compose"] as const) {
      const conf = file(render(fixture("least-conn-public"), { target }), "nginx/nginx.conf");
      expect(conf).toMatch(/map \$http_host \$phpcluster_host \{\s*""\s+\$host;\s*default \$http_host;/);
      expect(conf).toContain("proxy_set_header Host $phpcluster_host;");
      expect(conf).toContain("proxy_set_header X-Forwarded-Proto $scheme;");
      expect(conf).toContain("proxy_set_header X-Forwarded-Host $phpcluster_host;");
      // the port the user connected to, also in compose where nginx listens on 80 in its container
      expect(conf).toContain("proxy_set_header X-Forwarded-Port 9080;");
      expect(conf).not.toContain("proxy_set_header Host $host;");
    }
  });

  it("with TLS: HTTPS on tls.port, HTTP redirected there (but its own endpoints), HSTS when asked", () => {
    const t = fixture("tls-app-cookie");
    const native = file(render(t, { target: "native" }), "nginx/nginx.conf");
    expect(native).toContain("listen 127.0.0.1:8443 ssl;");
    expect(native).toContain("ssl_certificate ../../tls/cert.pem;");
    expect(native).toContain("ssl_certificate_key ../../tls/key.pem;");
    expect(native).toContain("return 301 https://$host:8443$request_uri;");
    expect(native).toMatch(/location \^~ \/\.phpcluster\/ \{\s*proxy_pass http:\/\/phpcluster_app;/);
    expect(native).toContain('add_header Strict-Transport-Security "max-age=31536000" always;');
    expect(native).toMatch(
      /upstream phpcluster_app_https \{[^}]*server 127\.0\.0\.1:8084 [^}]*server 127\.0\.0\.1:8085 /,
    );
    expect(native).toMatch(
      /listen 127\.0\.0\.1:8443 ssl;[\s\S]*proxy_pass http:\/\/phpcluster_app_https;[\s\S]*X-Forwarded-Port 8443;/,
    );
    const compose = file(render(t, { target: "compose" }), "nginx/nginx.conf");
    expect(compose).toContain("listen 443 ssl;");
    expect(compose).toContain("ssl_certificate /etc/phpcluster/tls/cert.pem;");
    // without TLS: no second server, no redirect, no HSTS
    const plain = file(render(fixture("defaults"), { target: "native" }), "nginx/nginx.conf");
    expect(plain).not.toMatch(/ssl|return 301|Strict-Transport-Security|phpcluster_app_https/);
    const port443 = topologyFrom("name: x\nbalancer:\n  tls:\n    port: 443\n");
    expect(file(render(port443, { target: "native" }), "nginx/nginx.conf")).toContain(
      "return 301 https://$host$request_uri;",
    );
  });

  it("with TLS: each app node takes HTTPS requests on a second port whose virtual host says https", () => {
    const t = fixture("tls-app-cookie");
    const httpd = file(render(t, { target: "native" }), "app2/httpd.conf");
    expect(httpd).toContain("UseCanonicalName Off");
    expect(httpd).toContain("ServerName http://app2:8080");
    expect(httpd).toMatch(
      /Listen 127\.0\.0\.1:8085\n<VirtualHost 127\.0\.0\.1:8085>\n\s+ServerName https:\/\/app2:8443\n\s+SetEnv HTTPS on\n<\/VirtualHost>/,
    );
    const compose = file(render(t, { target: "compose" }), "app2/httpd.conf");
    expect(compose).toMatch(/Listen 443\n<VirtualHost \*:443>/);
    expect(file(render(fixture("defaults"), { target: "native" }), "app1/httpd.conf")).not.toContain(
      "VirtualHost",
    );
  });

  it("sticky hashes on balancer.stickyCookie when the application renames its session", () => {
    expect(file(render(fixture("tls-app-cookie"), { target: "native" }), "nginx/nginx.conf")).toContain(
      "hash $cookie_DokuWiki consistent;",
    );
    expect(file(render(fixture("defaults"), { target: "native" }), "nginx/nginx.conf")).toContain(
      "hash $cookie_PHPSESSID consistent;",
    );
  });

  it("listens where the target needs it, with paths relative to the prefix on native", () => {
    const native = file(render(fixture("defaults"), { target: "native" }), "nginx/nginx.conf");
    expect(native).toContain("listen 127.0.0.1:8080;");
    expect(native).toContain("pid run/nginx.pid;");
    expect(native).toContain("error_log logs/error.log warn;");
    expect(native).toMatch(/access_log logs\/access\.log phpcluster if=\$phpcluster_logged;/);
    // health probes stay out of the access log (the path the drivers and healthchecks use)
    expect(native).toContain(`${HEALTH_PATH} 0;`);
    for (const temp of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]) {
      expect(native).toContain(`${temp}_temp_path temp/${temp};`);
    }
    expect(native).not.toMatch(/^\s*user\b/m);
    expect(file(render(fixture("ipv6"), { target: "native" }), "nginx/nginx.conf")).toContain(
      "listen [::1]:8443;",
    );
    const compose = file(render(fixture("ipv6"), { target: "compose" }), "nginx/nginx.conf");
    expect(compose).toContain("listen 80;");
    expect(compose).not.toContain("temp_path");
    expect(compose).toContain("static IPs");
  });

  it("allows stub_status from loopback, plus a specific bind address", () => {
    const allow = (t: Topology) =>
      [...file(render(t, { target: "native" }), "nginx/nginx.conf").matchAll(/allow (\S+);/g)].map(
        (m) => m[1],
      );
    expect(allow(fixture("defaults"))).toEqual(["127.0.0.1", "::1"]);
    expect(allow(fixture("least-conn-public"))).toEqual(["127.0.0.1", "::1"]);
    expect(allow(topologyFrom("name: lan\nbalancer:\n  bind: 192.0.2.10\n"))).toEqual([
      "127.0.0.1",
      "::1",
      "192.0.2.10",
    ]);
  });
});

describe("httpd.conf", () => {
  it("identifies the node and listens where the target needs it", () => {
    const t = fixture("round-robin-replicas");
    const native = render(t, { target: "native" });
    const compose = render(t, { target: "compose" });
    for (const node of appNodeNames(t)) {
      const n = file(native, `${node}/httpd.conf`);
      expect(n).toContain(`Listen 127.0.0.1:${nativeAddresses(t)[node]?.port}\n`);
      expect(n).toContain(`SetEnv PHPCLUSTER_NODE ${node}\n`);
      expect(n).toContain(`Header always set X-Served-By "${node}"\n`);
      expect(n).toContain("RemoteIPInternalProxy 127.0.0.1\n");
      const c = file(compose, `${node}/httpd.conf`);
      expect(c).toContain("Listen 80\n");
      expect(c).toContain(`RemoteIPInternalProxy ${composeAddresses(t).subnet}\n`);
    }
  });
});

describe("docker-compose.yml", () => {
  it.each(FIXTURE_NAMES)("%s: publishes only the balancer, waits for health, names nothing", (name) => {
    const t = fixture(name);
    const files = render(t, { target: "compose" });
    const text = file(files, "docker-compose.yml");
    expect(text.split("\n")[0]).toMatch(/^# Rendered by phpcluster.*do not edit/);
    const compose = composeFile(files);
    expect(Object.keys(compose)).toEqual(["services", "networks"]);
    expect(Object.keys(compose.services)).toEqual([...memcachedNodeNames(t), ...appNodeNames(t), "lb"]);

    const bind = t.balancer.bind.includes(":") ? `[${t.balancer.bind}]` : t.balancer.bind;
    for (const [service, s] of Object.entries(compose.services)) {
      expect(s.container_name).toBeUndefined();
      const published = [
        `${bind}:${t.balancer.port}:80`,
        ...(t.balancer.tls ? [`${bind}:${t.balancer.tls.port}:443`] : []),
      ];
      expect(s.ports).toEqual(service === "lb" ? published : undefined);
      expect(s.healthcheck?.test[0]).toBe("CMD");
      for (const dependency of Object.values(s.depends_on ?? {})) {
        expect(dependency).toEqual({ condition: "service_healthy" });
      }
    }
    for (const app of appNodeNames(t)) {
      expect(Object.keys(compose.services[app]?.depends_on ?? {})).toEqual(memcachedNodeNames(t));
    }
    expect(Object.keys(compose.services.lb?.depends_on ?? {})).toEqual(appNodeNames(t));
  });

  it("pins every node to its address on an internal network", () => {
    const t = fixture("round-robin-replicas");
    const compose = composeFile(render(t, { target: "compose" }));
    const { subnet, nodes } = composeAddresses(t);
    expect(compose.networks).toEqual({
      backend: { internal: true, ipam: { config: [{ subnet }] } },
      frontend: {},
    });
    for (const [service, s] of Object.entries(compose.services)) {
      expect(s.networks?.backend?.ipv4_address).toBe(nodes[service]);
    }
    expect(Object.keys(compose.services.lb?.networks ?? {})).toEqual(["backend", "frontend"]);
    expect(Object.keys(compose.services.app1?.networks ?? {})).toEqual(["backend"]);
  });

  it("gives the app nodes their environment and read-only mounts", () => {
    const compose = composeFile(render(fixture("defaults"), { target: "compose" }));
    const app2 = compose.services.app2;
    expect(app2?.environment).toMatchObject({
      // the distribution's conf.d (the empty entry), then this node's php.ini
      PHP_INI_SCAN_DIR: ":/etc/phpcluster",
      PHPCLUSTER_NODE: "app2",
      // The one value Compose interpolates: the secret, from the environment of `docker compose`.
      [PROBE_SECRET_ENV]: `\${${PROBE_SECRET_ENV}:?run phpcluster create}`,
    });
    expect(app2?.volumes?.map((v) => [v.source, v.target, v.read_only])).toEqual([
      [ROOT_FROM_OUT, "/var/www/app", true],
      ["./app2", "/etc/phpcluster", true],
      ["./probe", "/opt/phpcluster/probe", true],
    ]);
  });

  it("runs each Memcached node under the launcher, with restartable memory on the host's tmpfs", () => {
    const t = fixture("round-robin-replicas");
    const files = render(t, { target: "compose" });
    const compose = composeFile(files);
    const { nodes } = composeAddresses(t);
    const servers = memcachedNodeNames(t).map((m) => `${nodes[m]}:11211`);
    for (const [index, m] of memcachedNodeNames(t).entries()) {
      const s = compose.services[m];
      expect(s?.command).toEqual([
        "node",
        "/opt/phpcluster/memcached/launcher.js",
        "/etc/phpcluster/launcher.json",
      ]);
      // SIGUSR1 is the launcher's graceful stop (locks held, memory saved); Docker brings back a killed node
      expect(s?.stop_signal).toBe("SIGUSR1");
      expect(s?.restart).toBe("unless-stopped");
      expect(s?.ports).toBeUndefined();
      expect(s?.volumes?.map((v) => [v.source, v.target, v.read_only ?? false])).toEqual([
        [`./${m}`, "/etc/phpcluster", true],
        [`/dev/shm/phpcluster/compose-rr3/${m}`, "/var/lib/phpcluster/memory", false],
      ]);
      const config = JSON.parse(file(files, `${m}/launcher.json`)) as Record<string, unknown>;
      expect(config).toMatchObject({
        node: m,
        // the order of session.save_path: the launcher computes the handler's placement from it
        servers,
        index,
        listen: { host: "0.0.0.0", port: 11211 },
        memoryFile: "/var/lib/phpcluster/memory/memory",
        replicas: t.sessions.replicas,
        locking: t.sessions.locking,
      });
      expect(phpIni(files, "app1")["session.save_path"]).toBe(servers.join(","));
    }
    const dockerfile = file(files, "images/memcached/Dockerfile");
    expect(dockerfile).toContain("memcached nodejs");
    expect(dockerfile).toContain("COPY launcher/ /opt/phpcluster/memcached/");
    const pkg = JSON.parse(file(files, "images/memcached/launcher/package.json")) as { type: string };
    expect(pkg.type).toBe("module");
  });

  it("escapes every literal $ and keeps the one intended interpolation", () => {
    const project = composeProject(fixture("defaults"), "../pub$lic");
    const text = JSON.stringify(project);
    expect(text).toContain("../pub$$lic");
    expect(text.match(/(?<!\$)\$\{/g)).toHaveLength(2);
  });

  it("makes a bare bind source explicit", () => {
    const project = composeProject(fixture("defaults"), "public") as {
      services: Record<string, ComposeService>;
    };
    expect(project.services.app1?.volumes?.[0]?.source).toBe("./public");
  });
});

describe("Dockerfiles", () => {
  it("build every role from images.base with the distribution's packages", () => {
    const files = render(fixture("least-conn-public"), { target: "compose" });
    for (const role of ["app", "lb", "memcached"]) {
      const text = file(files, `images/${role}/Dockerfile`);
      expect(text).toContain("FROM debian:bookworm-slim\n");
      expect(text).toContain(`LABEL io.phpcluster.cluster="lc-public" io.phpcluster.role="${role}"`);
      expect(text).toContain("--no-install-recommends");
      expect(text).toContain("rm -rf /var/lib/apt/lists/*");
    }
    const app = file(files, "images/app/Dockerfile");
    expect(app).toContain("apache2 libapache2-mod-php php-memcached curl ca-certificates");
    expect(app).toContain("/usr/lib/apache2/modules/libphp.so");
    expect(file(files, "images/lb/Dockerfile")).toContain("install -y --no-install-recommends nginx curl");
  });
});

describe("cluster.json", () => {
  it.each(TARGETS)("%s: lists every node in start order with its address and files", (target) => {
    const t = fixture("round-robin-replicas");
    const files = render(t, { target });
    const text = file(files, "cluster.json");
    expect(text.endsWith("}\n")).toBe(true);
    const manifest = JSON.parse(text) as {
      name: string;
      target: string;
      nodes: { name: string; role: string; host: string; port: number; files: string[] }[];
      balancer: { bind: string; port: number };
    };
    expect(manifest.name).toBe("rr3");
    expect(manifest.target).toBe(target);
    expect(manifest.balancer).toEqual({ bind: "127.0.0.1", port: 8080 });
    expect(manifest.nodes.map((n) => [n.name, n.role])).toEqual([
      ["memcached1", "memcached"],
      ["memcached2", "memcached"],
      ["app1", "app"],
      ["app2", "app"],
      ["app3", "app"],
      ["lb", "balancer"],
    ]);
    const paths = new Set(files.map((f) => f.path));
    for (const node of manifest.nodes) for (const f of node.files) expect(paths).toContain(f);
    const app2 = manifest.nodes.find((n) => n.name === "app2");
    if (target === "native") {
      expect(app2).toMatchObject({ host: "127.0.0.1", port: 8082 });
    } else {
      expect(app2).toMatchObject({ host: composeAddresses(t).nodes.app2, port: 80 });
    }
    expect(app2?.files).toEqual(expect.arrayContaining(["app2/httpd.conf", "app2/php.ini"]));
  });
});

describe("addresses", () => {
  it("native: the balancer on bind:port, apps and Memcached on the following loopback ports", () => {
    const t = fixture("round-robin-replicas");
    expect(nativeAddresses(t)).toEqual({
      memcached1: { host: "127.0.0.1", port: 8084 },
      memcached2: { host: "127.0.0.1", port: 8085 },
      app1: { host: "127.0.0.1", port: 8081 },
      app2: { host: "127.0.0.1", port: 8082 },
      app3: { host: "127.0.0.1", port: 8083 },
      lb: { host: "127.0.0.1", port: 8080 },
    });
  });

  it("compose: a /24 pinned by the cluster name", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
    const t = fixture("round-robin-replicas");
    const h = fnv1a32("rr3");
    const prefix = `10.${200 + (h % 50)}.${(h >>> 8) % 256}`;
    expect(composeAddresses(t)).toEqual({
      subnet: `${prefix}.0/24`,
      nodes: {
        memcached1: `${prefix}.11`,
        memcached2: `${prefix}.12`,
        app1: `${prefix}.101`,
        app2: `${prefix}.102`,
        app3: `${prefix}.103`,
        lb: `${prefix}.250`,
      },
    });
    expect(composeAddresses(fixture("defaults")).subnet).not.toBe(composeAddresses(t).subnet);
  });

  it("exports the probe contract", () => {
    expect(PROBE_SECRET_ENV).toBe("PHPCLUSTER_PROBE_SECRET");
    expect(PROBE_SECRET_HEADER).toBe("X-Phpcluster-Secret");
    expect(PROBE_PATH).toBe("/.phpcluster/probe.php");
    expect(HEALTH_PATH).toBe("/.phpcluster/health.php");
  });
});
