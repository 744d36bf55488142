import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OpenCluster, openCluster } from "../../src/runtime/index.js";
import { Browser } from "../helpers/browser.js";
import { checksOf, runCli, tempDir } from "../helpers/cli.js";
import { freePortBlock } from "../helpers/cluster.js";
import { findBinary, requireBinary } from "../helpers/validators.js";

/**
 * Real PHP applications, unchanged, behind a native cluster: the distribution's extensions and
 * OPcache on every app node (the same set as a stock Debian Apache + mod_php on this host), the
 * request as the user sent it (Host with its port, the scheme), and DokuWiki from Debian's
 * package: log in through the balancer, follow the redirect, logged in on every app node, still
 * logged in after the serving node is killed; the same over HTTPS with secure cookies.
 */
for (const bin of ["nginx", "apache2", "memcached", "openssl", "php"]) requireBinary(bin);
const DOKUWIKI = "/usr/share/dokuwiki";
if (!existsSync(DOKUWIKI) && process.env.CI) throw new Error("Debian's dokuwiki package is required in CI");

const { dir, cleanup } = tempDir("phpcluster-apps-");
chmodSync(dir, 0o755);
const caDir = path.join(dir, "ca");
const env = { PHPCLUSTER_CA_DIR: caDir };
const clusters: { file: string }[] = [];
const children: ChildProcess[] = [];
const PASSWORD = "s3cret-passw0rd";

function cli(file: string, args: string[]) {
  return runCli([...args, "-f", file], { cwd: path.dirname(file), env, timeout: 180_000 });
}

/** A copy of Debian's DokuWiki in `root` (configuration and data inside it), with user `tester`. */
function installDokuWiki(root: string): void {
  const wiki = path.join(root, "wiki");
  cpSync(DOKUWIKI, wiki, { recursive: true, dereference: true });
  rmSync(path.join(wiki, "conf"), { recursive: true, force: true });
  cpSync("/etc/dokuwiki", path.join(wiki, "conf"), { recursive: true, dereference: true });
  cpSync("/var/lib/dokuwiki/data", path.join(root, "data"), { recursive: true, dereference: true });
  // Debian's preload points DokuWiki at /etc/dokuwiki: point it at this copy instead
  writeFileSync(
    path.join(wiki, "inc", "preload.php"),
    `<?php\nif (!defined('DOKU_CONF')) define('DOKU_CONF', ${JSON.stringify(`${wiki}/conf/`)});\n`,
  );
  writeFileSync(
    path.join(wiki, "conf", "local.php"),
    `<?php\n$conf['savedir'] = ${JSON.stringify(path.join(root, "data"))};\n$conf['title'] = 'phpcluster test wiki';\n` +
      "$conf['useacl'] = 1;\n$conf['authtype'] = 'authplain';\n$conf['superuser'] = '@admin';\n",
  );
  const hash = execFileSync(
    "php",
    ["-r", `echo password_hash(${JSON.stringify(PASSWORD)}, PASSWORD_BCRYPT);`],
    {
      encoding: "utf8",
    },
  );
  writeFileSync(
    path.join(wiki, "conf", "users.auth.php"),
    `tester:${hash}:Test User:tester@example.org:admin,user\n`,
  );
  writeFileSync(path.join(wiki, "conf", "acl.auth.php"), "*\t@ALL\t1\n*\t@user\t8\n");
  // the page every runtime must answer: ctype, tokenizer, dom, PDO (sqlite in memory), fileinfo, iconv, OPcache
  writeFileSync(path.join(wiki, "exttest.php"), EXTENSION_PAGE);
  // Apache's workers (www-data) write the wiki's data
  if (process.getuid?.() === 0)
    execFileSync("chown", ["-R", "www-data:www-data", path.join(root, "data"), path.join(wiki, "conf")]);
}

const EXTENSION_PAGE = `<?php
header('Content-Type: application/json');
$r = [];
$r['ctype'] = ctype_digit('123') && !ctype_digit('12a');
$t = token_get_all('<?php echo 1;');
$r['tokenizer'] = is_array($t[1]) && token_name($t[1][0]) === 'T_ECHO';
$d = new DOMDocument();
$d->loadXML('<a><b>x</b></a>');
$r['dom'] = $d->getElementsByTagName('b')->item(0)->textContent === 'x';
$p = new PDO('sqlite::memory:');
$p->exec('create table t (v integer)');
$p->exec('insert into t values (41)');
$r['pdo_sqlite'] = (int) $p->query('select v + 1 from t')->fetchColumn() === 42;
$f = new finfo(FILEINFO_MIME_TYPE);
$r['fileinfo'] = $f->buffer("%PDF-1.4\\n%\\xe2\\xe3\\xcf\\xd3\\n") === 'application/pdf';
$r['iconv'] = iconv('UTF-8', 'ISO-8859-1', "\\u{e9}") === "\\xe9";
$s = function_exists('opcache_get_status') ? opcache_get_status(false) : false;
$r['opcache'] = is_array($s) && !empty($s['opcache_enabled']);
echo json_encode(['node' => getenv('PHPCLUSTER_NODE'), 'checks' => $r]);
`;

async function makeWiki(
  name: string,
  o: { tls?: boolean } = {},
): Promise<{ file: string; port: number; tlsPort: number }> {
  const root = path.join(dir, name);
  mkdirSync(root);
  installDokuWiki(root);
  const port = await freePortBlock(10);
  const tlsPort = port + 9;
  const file = path.join(root, "phpcluster.yml");
  writeFileSync(
    file,
    [
      `name: ${name}`,
      "runtime: native",
      "balancer:",
      `  port: ${port}`,
      "  stickyCookie: DokuWiki      # DokuWiki renames its session: session_name('DokuWiki')",
      ...(o.tls ? ["  tls:", `    port: ${tlsPort}`] : []),
      "app:",
      "  replicas: 2",
      "  root: ./wiki",
      "  extensions: [dom, pdo_sqlite]",
      "sessions:",
      "  lockExpire: 2s",
      ...(o.tls ? ["  cookie:", "    secure: true"] : []),
      "memcached:",
      "  nodes: 2",
      "",
    ].join("\n"),
  );
  clusters.push({ file });
  const created = await cli(file, ["create", "--json"]);
  expect(created.exitCode, created.stderr).toBe(0);
  return { file, port, tlsPort };
}

const open = (file: string) =>
  openCluster({ cwd: path.dirname(file), env: { ...process.env, ...env }, file });
const secretOf = (o: OpenCluster) => readFileSync(path.join(o.cluster.stateDir, "secret"), "utf8").trim();
const json = (body: string) => JSON.parse(body) as Record<string, unknown>;

/** get_loaded_extensions() of a stock Debian Apache + mod_php on this host (its own php.ini and conf.d). */
async function stockExtensions(): Promise<string[]> {
  const root = path.join(dir, "stock");
  mkdirSync(path.join(root, "docroot"), { recursive: true });
  writeFileSync(
    path.join(root, "docroot", "ext.php"),
    "<?php $n = array_map('strtolower', array_merge(get_loaded_extensions(), get_loaded_extensions(true))); $n = array_values(array_unique($n)); sort($n); echo json_encode($n);",
  );
  const port = await freePortBlock(1);
  const php = findBinary("apache2")
    ? execFileSync("sh", ["-c", "ls /usr/lib/apache2/modules/libphp*.so | head -n1"], {
        encoding: "utf8",
      }).trim()
    : "";
  writeFileSync(
    path.join(root, "httpd.conf"),
    [
      "ServerName localhost",
      `PidFile ${root}/httpd.pid`,
      `DefaultRuntimeDir ${root}`,
      `ErrorLog ${root}/error.log`,
      "Mutex pthread default",
      `Listen 127.0.0.1:${port}`,
      "LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so",
      "LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so",
      `LoadModule php_module ${php}`,
      ...(process.getuid?.() === 0 ? ["User www-data", "Group www-data"] : []),
      `DocumentRoot ${root}/docroot`,
      `<Directory ${root}/docroot>`,
      "  Require all granted",
      "</Directory>",
      '<FilesMatch "\\.php$">',
      "  SetHandler application/x-httpd-php",
      "</FilesMatch>",
      "",
    ].join("\n"),
  );
  const child = spawn(findBinary("apache2") ?? "apache2", ["-f", `${root}/httpd.conf`, "-DFOREGROUND"], {
    env: { PATH: process.env.PATH, LANG: "C" }, // nothing of phpcluster's: the distribution's configuration
    stdio: "ignore",
    detached: true,
  });
  children.push(child);
  const browser = new Browser();
  for (let i = 0; i < 200; i++) {
    try {
      const page = await browser.get(`http://127.0.0.1:${port}/ext.php`);
      if (page.status === 200) return JSON.parse(page.body) as string[];
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the stock Apache did not answer (see ${root}/error.log)`);
}

afterAll(async () => {
  for (const child of children) {
    if (child.pid) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }
  }
  for (const c of clusters)
    if (existsSync(path.join(path.dirname(c.file), ".phpcluster"))) await cli(c.file, ["destroy"]);
  cleanup();
}, 120_000);

/** Log in to DokuWiki through the balancer at `base`; returns the page after the redirect. */
async function logIn(browser: Browser, base: string) {
  const form = await browser.get(`${base}/doku.php?id=start&do=login`);
  expect(form.status).toBe(200);
  const sectok = /name="sectok" value="([^"]*)"/.exec(form.body)?.[1] ?? "";
  const post = await browser.post(`${base}/doku.php`, {
    sectok,
    id: "start",
    do: "login",
    u: "tester",
    p: PASSWORD,
  });
  expect(post.status, post.body.slice(0, 300)).toBe(302);
  return post;
}

const loggedIn = (body: string) => /Logged in as:\s*<bdi>Test User<\/bdi>/.test(body);

describe("real PHP applications on the native runtime", () => {
  let wiki: { file: string; port: number; tlsPort: number };
  let cluster: OpenCluster;

  beforeAll(async () => {
    wiki = await makeWiki("dokuwiki");
    cluster = await open(wiki.file);
  }, 300_000);

  it("every app node has exactly a stock mod_php's extensions on this host (with the topology's), OPcache on", async () => {
    const stock = await stockExtensions();
    expect(stock).toContain("zend opcache");
    for (const node of ["app1", "app2"]) {
      const r = await cluster.driver.httpGetNode({
        node,
        path: "/.phpcluster/probe.php?action=ini",
        headers: { "X-Phpcluster-Secret": secretOf(cluster) },
      });
      const probe = json(r.body) as { loaded: string[]; opcache: boolean };
      // the same set as stock (the topology's dom and pdo_sqlite are installed and enabled here), each once
      expect(probe.loaded).toEqual(stock);
      expect(probe.loaded).toEqual(
        expect.arrayContaining(["memcached", "igbinary", "msgpack", "dom", "pdo_sqlite"]),
      );
      expect(probe.opcache).toBe(true);
    }
  });

  it("a page using ctype, tokenizer, dom, PDO sqlite, fileinfo, iconv and OPcache answers on every node", async () => {
    for (const node of ["app1", "app2"]) {
      const r = await cluster.driver.httpGetNode({ node, path: "/exttest.php", headers: {} });
      expect(r.status, r.body).toBe(200);
      expect(json(r.body)).toEqual({
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

  it("PHP sees the request as the user sent it: host with its port, scheme, port", async () => {
    const page = await new Browser().get(
      `http://127.0.0.1:${wiki.port}/.phpcluster/probe.php?action=request`,
      {
        "X-Phpcluster-Secret": secretOf(cluster),
      },
    );
    expect(json(page.body).server).toMatchObject({
      HTTPS: null,
      REQUEST_SCHEME: "http",
      HTTP_HOST: `127.0.0.1:${wiki.port}`,
      SERVER_PORT: String(wiki.port),
      HTTP_X_FORWARDED_PROTO: "http",
      HTTP_X_FORWARDED_PORT: String(wiki.port),
    });
  });

  it("DokuWiki: log in through the balancer, the redirect keeps the port, logged in on every node and after a kill", async () => {
    const browser = new Browser();
    const base = `http://127.0.0.1:${wiki.port}`;
    const post = await logIn(browser, base);
    expect(post.headers.location).toBe(`${base}/doku.php?id=start`);
    const start = await browser.get(post.headers.location as string);
    expect(loggedIn(start.body), start.body.slice(0, 500)).toBe(true);
    // every app node, asked directly with the same cookies and Host, knows the user (the session is in Memcached)
    for (const node of ["app1", "app2"]) {
      const r = await cluster.driver.httpGetNode({
        node,
        path: "/doku.php?id=start",
        headers: {
          Host: `127.0.0.1:${wiki.port}`,
          Cookie: browser.jar.getCookieStringSync(`${base}/`),
          "User-Agent": "phpcluster-e2e-browser",
        },
      });
      expect(r.headers["x-served-by"]).toBe(node);
      expect(loggedIn(r.body), `${node}: ${r.body.slice(0, 300)}`).toBe(true);
    }
    // kill the node that serves this user: the next page comes from the other node, still logged in
    const serving = start.headers["x-served-by"] as string;
    await cluster.driver.killNode({ node: serving });
    const after = await browser.get(`${base}/doku.php?id=start`);
    expect(after.headers["x-served-by"]).not.toBe(serving);
    expect(loggedIn(after.body)).toBe(true);
    expect((await cli(wiki.file, ["restart", serving])).exitCode).toBe(0);
  });
});

describe("real PHP applications over HTTPS at the balancer", () => {
  let wiki: { file: string; port: number; tlsPort: number };
  let ca = "";

  beforeAll(async () => {
    wiki = await makeWiki("dokuwiki-tls", { tls: true });
    ca = readFileSync(path.join(caDir, "ca.pem"), "utf8");
  }, 300_000);

  it("HTTP is redirected to HTTPS, keeping the path; HSTS is off by default", async () => {
    const r = await new Browser().get(`http://127.0.0.1:${wiki.port}/doku.php?id=start`);
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe(`https://127.0.0.1:${wiki.tlsPort}/doku.php?id=start`);
    const s = await new Browser({ ca }).get(`https://127.0.0.1:${wiki.tlsPort}/doku.php?id=start`);
    expect(s.status).toBe(200); // the development certificate verifies against the local CA
    expect(s.headers["strict-transport-security"]).toBeUndefined();
  });

  it("DokuWiki over HTTPS: secure cookies, the redirect keeps the scheme and port, PHP sees HTTPS", async () => {
    const browser = new Browser({ ca });
    const base = `https://127.0.0.1:${wiki.tlsPort}`;
    const post = await logIn(browser, base);
    expect(post.headers.location).toBe(`${base}/doku.php?id=start`);
    const cookies = [...post.setCookies, ...(await browser.get(`${base}/doku.php?id=start`)).setCookies];
    expect(
      cookies.some((c) => /^DW[0-9a-f]+=/.test(c) && /;\s*secure/i.test(c)),
      cookies.join("\n"),
    ).toBe(true);
    const start = await browser.get(`${base}/doku.php?id=start`);
    expect(loggedIn(start.body)).toBe(true);
    const o = await open(wiki.file);
    const probe = await browser.get(`${base}/.phpcluster/probe.php?action=request`, {
      "X-Phpcluster-Secret": secretOf(o),
    });
    expect(json(probe.body).server).toMatchObject({
      HTTPS: "on",
      REQUEST_SCHEME: "https",
      SERVER_PORT: String(wiki.tlsPort),
      HTTP_HOST: `127.0.0.1:${wiki.tlsPort}`,
    });
  });

  it("verify passes over HTTPS", async () => {
    const r = await cli(wiki.file, ["verify", "--json"]);
    expect(r.exitCode, checksOf(r.stdout)).toBe(0);
    expect(JSON.parse(r.stdout).data.ok).toBe(true);
  }, 180_000);
});
