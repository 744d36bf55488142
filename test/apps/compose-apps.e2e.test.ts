import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OpenCluster, openCluster } from "../../src/runtime/index.js";
import { Browser } from "../helpers/browser.js";
import { checksOf, runCli, tempDir } from "../helpers/cli.js";
import { BASE_IMAGE, freeStablePort, requireDocker } from "../helpers/docker.js";
import { expectDrawnReport, readReport } from "../helpers/report-page.js";

/**
 * The same promises as the native apps suite, in images: every app node has exactly the
 * extensions of a stock Apache + mod_php in its own image (the topology's extensions installed
 * from their Debian packages), OPcache on; a page using them answers on every node; HTTPS at the
 * balancer with a development certificate, the request as the user sent it, and verify over HTTPS.
 */
const EXTENSION_PAGE = `<?php
header('Content-Type: application/json');
$t = token_get_all('<?php echo 1;');
$d = new DOMDocument();
$d->loadXML('<a><b>x</b></a>');
$p = new PDO('sqlite::memory:');
$p->exec('create table t (v integer)');
$p->exec('insert into t values (41)');
$f = new finfo(FILEINFO_MIME_TYPE);
$s = function_exists('opcache_get_status') ? opcache_get_status(false) : false;
echo json_encode(['node' => getenv('PHPCLUSTER_NODE'), 'checks' => [
  'ctype' => ctype_digit('123') && !ctype_digit('12a'),
  'tokenizer' => is_array($t[1]) && token_name($t[1][0]) === 'T_ECHO',
  'dom' => $d->getElementsByTagName('b')->item(0)->textContent === 'x',
  'pdo_sqlite' => (int) $p->query('select v + 1 from t')->fetchColumn() === 42,
  'fileinfo' => $f->buffer("%PDF-1.4\\n%\\xe2\\xe3\\xcf\\xd3\\n") === 'application/pdf',
  'iconv' => iconv('UTF-8', 'ISO-8859-1', "\\u{e9}") === "\\xe9",
  'opcache' => is_array($s) && !empty($s['opcache_enabled']),
]]);
`;

/** In an app container: a stock Apache + mod_php (the image's own php.ini and conf.d) reporting its extensions. */
const STOCK_SCRIPT = `set -e
mkdir -p /tmp/stock/docroot
cat > /tmp/stock/docroot/ext.php <<'PHP'
<?php $n = array_map('strtolower', array_merge(get_loaded_extensions(), get_loaded_extensions(true))); $n = array_values(array_unique($n)); sort($n); echo json_encode($n);
PHP
cat > /tmp/stock/httpd.conf <<'CONF'
ServerName localhost
PidFile /tmp/stock/httpd.pid
DefaultRuntimeDir /tmp/stock
ErrorLog /tmp/stock/error.log
Mutex pthread default
Listen 127.0.0.1:8099
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule php_module /usr/lib/apache2/modules/libphp.so
User www-data
Group www-data
DocumentRoot /tmp/stock/docroot
<Directory /tmp/stock/docroot>
  Require all granted
</Directory>
<FilesMatch "\\.php$">
  SetHandler application/x-httpd-php
</FilesMatch>
CONF
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin apache2 -f /tmp/stock/httpd.conf -k start
for i in $(seq 1 100); do curl -fsS http://127.0.0.1:8099/ext.php 2>/dev/null && break; sleep 0.1; done
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin apache2 -f /tmp/stock/httpd.conf -k stop
`;

const ready = requireDocker();
const { dir, cleanup } = tempDir("phpcluster-compose-apps-");
chmodSync(dir, 0o755);
const env = { PHPCLUSTER_CA_DIR: path.join(dir, "ca") };
let file = "";
let port = 0;
let tlsPort = 0;
let cluster: OpenCluster;
let ca = "";

const cli = (args: string[], timeout = 900_000) => runCli([...args, "-f", file], { cwd: dir, env, timeout });
const secret = () => readFileSync(path.join(cluster.cluster.stateDir, "secret"), "utf8").trim();

describe.skipIf(!ready)("real PHP applications on the compose runtime", () => {
  beforeAll(async () => {
    port = await freeStablePort();
    do tlsPort = await freeStablePort();
    while (tlsPort === port);
    mkdirSync(path.join(dir, "public"));
    writeFileSync(path.join(dir, "public", "exttest.php"), EXTENSION_PAGE);
    file = path.join(dir, "phpcluster.yml");
    writeFileSync(
      file,
      [
        `name: apps-${process.pid.toString(36)}`,
        "runtime: compose",
        "balancer:",
        `  port: ${port}`,
        "  tls:",
        `    port: ${tlsPort}`,
        "app:",
        "  replicas: 2",
        "  extensions: [dom, pdo_sqlite]",
        "sessions:",
        "  lockExpire: 2s",
        "  cookie: { secure: true }",
        "images:",
        `  base: ${BASE_IMAGE}`,
        "",
      ].join("\n"),
    );
    const created = await cli(["create", "--json"]);
    expect(created.exitCode, created.stderr.slice(-3000)).toBe(0);
    expect(JSON.parse(created.stdout).data.url).toBe(`https://127.0.0.1:${tlsPort}/`);
    cluster = await openCluster({ cwd: dir, env: { ...process.env, ...env }, file });
    ca = readFileSync(path.join(dir, "ca", "ca.pem"), "utf8");
  }, 1_200_000);

  afterAll(async () => {
    if (file) await cli(["destroy", "--json"], 180_000);
    cleanup();
  }, 200_000);

  it("every app node has exactly the extensions of a stock mod_php in its image, with the topology's, OPcache on", async () => {
    const containers = await execa("docker", [
      "ps",
      "-q",
      "--filter",
      `label=io.phpcluster.node=app1`,
      "--filter",
      `label=io.phpcluster.cluster=${cluster.cluster.topology.name}`,
    ]);
    const id = containers.stdout.trim().split("\n")[0] ?? "";
    const stock = JSON.parse(
      (await execa("docker", ["exec", id, "bash", "-c", STOCK_SCRIPT])).stdout,
    ) as string[];
    expect(stock).toEqual(expect.arrayContaining(["zend opcache", "memcached", "dom", "pdo_sqlite"]));
    for (const node of ["app1", "app2"]) {
      const r = await cluster.driver.httpGetNode({
        node,
        path: "/.phpcluster/probe.php?action=ini",
        headers: { "X-Phpcluster-Secret": secret() },
      });
      const probe = JSON.parse(r.body) as { loaded: string[]; opcache: boolean };
      expect(probe.loaded).toEqual(stock);
      expect(probe.opcache).toBe(true);
    }
  });

  it("a page using ctype, tokenizer, dom, PDO sqlite, fileinfo, iconv and OPcache answers on every node", async () => {
    for (const node of ["app1", "app2"]) {
      const r = await cluster.driver.httpGetNode({ node, path: "/exttest.php", headers: {} });
      expect(r.status, r.body).toBe(200);
      expect(JSON.parse(r.body)).toEqual({
        node,
        checks: {
          ctype: true,
          tokenizer: true,
          dom: true,
          pdo_sqlite: true,
          fileinfo: true,
          iconv: true,
          opcache: true,
        },
      });
    }
  });

  it("HTTPS at the balancer: HTTP redirects there, PHP sees https, the host with its port and the public port", async () => {
    const http = await new Browser().get(`http://127.0.0.1:${port}/exttest.php?x=1`);
    expect(http.status).toBe(301);
    expect(http.headers.location).toBe(`https://127.0.0.1:${tlsPort}/exttest.php?x=1`);
    const probe = await new Browser({ ca }).get(
      `https://127.0.0.1:${tlsPort}/.phpcluster/probe.php?action=request`,
      {
        "X-Phpcluster-Secret": secret(),
      },
    );
    expect(probe.status).toBe(200);
    expect(JSON.parse(probe.body).server).toMatchObject({
      HTTPS: "on",
      REQUEST_SCHEME: "https",
      HTTP_HOST: `127.0.0.1:${tlsPort}`,
      SERVER_PORT: String(tlsPort), // nginx listens on 443 in its container; PHP sees the published port
      HTTP_X_FORWARDED_PORT: String(tlsPort),
    });
  });

  it("verify passes over HTTPS", async () => {
    const html = path.join(dir, "report.html");
    const r = await cli(
      [
        "verify",
        "--json",
        "--scenario",
        "health",
        "effective-config",
        "session-store",
        "kill-owner",
        "--report",
        html,
      ],
      600_000,
    );
    expect(r.exitCode, checksOf(r.stdout)).toBe(0);
    // the HTML report of a compose run: every kill-owner timeline drawn in a real browser
    const checks = JSON.parse(r.stdout).data.checks as { name: string; timeline?: unknown }[];
    expectDrawnReport(await readReport(html, "verify-compose.png"), checks, expect);
  }, 600_000);
});
