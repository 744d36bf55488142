import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fail } from "../errors.js";
import { readIfExists, writeFileAtomically } from "../files/write.js";
import { TLS_FILES } from "../render/paths.js";
import type { ClusterContext } from "./driver.js";

/**
 * The balancer's certificate and key, in `<state>/tls/` (nginx.conf points there; they are not
 * rendered: a key is a secret and a certificate is not the same bytes twice). Either the ones the
 * topology names (copied, checked to be a certificate and its key), or a development certificate
 * for localhost, 127.0.0.1, ::1 and the bind address, signed by a local CA that is made once per
 * user (as mkcert and DDEV do) so it can be trusted once for every cluster. openssl makes the
 * keys; Node reads the certificates back.
 */

const DEV_DAYS = 825; // the most a browser accepts for a leaf certificate
const RENEW_WITHIN_MS = 30 * 86_400_000;

export interface TlsFiles {
  certificate: string;
  key: string;
  /** The CA that signed a development certificate (undefined for the topology's own). */
  ca: string | undefined;
  development: boolean;
}

export function tlsDirOf(cluster: Pick<ClusterContext, "stateDir">): string {
  return path.join(cluster.stateDir, "tls");
}

/** Where the development CA lives: PHPCLUSTER_CA_DIR, else `$XDG_DATA_HOME/phpcluster/ca` (~/.local/share). */
export function caDir(env: NodeJS.ProcessEnv): string {
  if (env.PHPCLUSTER_CA_DIR) return env.PHPCLUSTER_CA_DIR;
  const data = env.XDG_DATA_HOME || path.join(env.HOME || os.homedir(), ".local", "share");
  return path.join(data, "phpcluster", "ca");
}

async function openssl(env: NodeJS.ProcessEnv, args: string[]): Promise<void> {
  const { execa } = await import("execa");
  const r = await execa("openssl", args, {
    reject: false,
    timeout: 60_000,
    stdin: "ignore",
    cleanup: false,
    env: { PATH: env.PATH ?? "/usr/bin:/bin", LANG: "C" },
    extendEnv: false,
  });
  if (r.exitCode !== 0) {
    const missing = (r as { code?: string }).code === "ENOENT" || /ENOENT/.test(r.shortMessage ?? "");
    if (missing) {
      throw fail.runtimeUnavailable(
        "a development certificate needs openssl, which is not installed",
        "install openssl (Debian package openssl), or name your own certificate and key in balancer.tls",
      );
    }
    throw fail.runtime("FILE_ERROR", `openssl ${args[0]} failed`, { hint: (r.stderr || r.stdout).trim() });
  }
}

/** The names a development certificate is for. */
export function devNames(bind: string): { dns: string[]; ips: string[] } {
  const ips = ["127.0.0.1", "::1"];
  if (bind !== "0.0.0.0" && bind !== "::" && !ips.includes(bind)) ips.push(bind);
  return { dns: ["localhost"], ips };
}

/** Make the development CA once (its key 0600), and return its certificate. */
export async function ensureCa(
  env: NodeJS.ProcessEnv,
): Promise<{ cert: string; keyFile: string; certFile: string }> {
  const dir = caDir(env);
  const certFile = path.join(dir, "ca.pem");
  const keyFile = path.join(dir, "ca-key.pem");
  const existing = await readIfExists(certFile);
  if (existing && (await readIfExists(keyFile))) {
    const ca = new X509Certificate(existing);
    if (Date.parse(ca.validTo) - Date.now() > RENEW_WITHIN_MS) return { cert: existing, keyFile, certFile };
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const host = os.hostname().replace(/[^A-Za-z0-9.-]/g, "-");
  await openssl(env, [
    "req",
    ...["-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    ...["-keyout", keyFile, "-out", certFile, "-days", "3650"],
    ...["-subj", `/O=phpcluster development CA/CN=phpcluster development CA (${host})`],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  ]);
  await chmod(keyFile, 0o600);
  return { cert: await readFile(certFile, "utf8"), keyFile, certFile };
}

/** Is this development certificate still right: for these names, from this CA, not about to expire? */
function devCertFits(pem: string, ca: string, names: { dns: string[]; ips: string[] }): boolean {
  try {
    const cert = new X509Certificate(pem);
    const issuer = new X509Certificate(ca);
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) return false;
    if (Date.parse(cert.validTo) - Date.now() < RENEW_WITHIN_MS) return false;
    const san = cert.subjectAltName ?? "";
    return (
      names.dns.every((d) => san.includes(`DNS:${d}`)) &&
      names.ips.every(
        (ip) => san.includes(`IP Address:${ip.toUpperCase()}`) || san.includes(`IP Address:${ip}`),
      )
    );
  } catch {
    return false;
  }
}

async function ensureDevCert(cluster: ClusterContext): Promise<TlsFiles> {
  const dir = tlsDirOf(cluster);
  const certFile = path.join(dir, TLS_FILES.certificate);
  const keyFile = path.join(dir, TLS_FILES.key);
  const ca = await ensureCa(cluster.env);
  const names = devNames(cluster.topology.balancer.bind);
  const current = await readIfExists(certFile);
  if (current && (await readIfExists(keyFile)) && devCertFits(current, ca.cert, names)) {
    return { certificate: certFile, key: keyFile, ca: ca.cert, development: true };
  }
  await mkdir(dir, { recursive: true });
  const csr = path.join(dir, "request.csr");
  const ext = path.join(dir, "extensions.cnf");
  const san = [...names.dns.map((d) => `DNS:${d}`), ...names.ips.map((ip) => `IP:${ip}`)].join(",");
  await writeFile(
    ext,
    `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  try {
    await openssl(cluster.env, [
      "req",
      ...["-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
      ...["-keyout", `${keyFile}.new`, "-out", csr, "-subj", `/O=phpcluster/CN=${cluster.topology.name}`],
    ]);
    await openssl(cluster.env, [
      "x509",
      ...["-req", "-in", csr, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-set_serial", `0x${randomSerial()}`],
      ...["-days", String(DEV_DAYS), "-extfile", ext, "-out", `${certFile}.new`],
    ]);
    await chmod(`${keyFile}.new`, 0o600);
    const key = await readFile(`${keyFile}.new`, "utf8");
    const cert = await readFile(`${certFile}.new`, "utf8");
    await writeFileAtomically(keyFile, key, { mode: 0o600 });
    await writeFileAtomically(certFile, cert, { mode: 0o644 });
  } finally {
    await Promise.all([csr, ext, `${keyFile}.new`, `${certFile}.new`].map((f) => rm(f, { force: true })));
  }
  return { certificate: certFile, key: keyFile, ca: ca.cert, development: true };
}

function randomSerial(): string {
  return Array.from({ length: 16 }, () => Math.floor(Math.random() * 16).toString(16))
    .join("")
    .replace(/^0/, "1");
}

/** The topology's own certificate and key, checked and copied into the state folder (the key 0600). */
async function copyOwnCert(cluster: ClusterContext, certificate: string, key: string): Promise<TlsFiles> {
  const where = (field: string, file: string) =>
    `${cluster.topologyFileShown}: balancer.tls.${field} ${file}`;
  const read = async (field: string, file: string) => {
    const text = await readIfExists(path.resolve(cluster.topologyDir, file));
    if (text === undefined) throw fail.runtime("TOPOLOGY_INVALID", `${where(field, file)}: no such file`);
    return text;
  };
  const certText = await read("certificate", certificate);
  const keyText = await read("key", key);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certText);
  } catch {
    throw fail.runtime("TOPOLOGY_INVALID", `${where("certificate", certificate)} is not a PEM certificate`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(keyText);
  } catch {
    throw fail.runtime(
      "TOPOLOGY_INVALID",
      `${where("key", key)} is not a PEM private key (or needs a passphrase)`,
    );
  }
  if (!cert.checkPrivateKey(privateKey)) {
    throw fail.runtime("TOPOLOGY_INVALID", `${where("key", key)} is not the key of ${certificate}`);
  }
  const dir = tlsDirOf(cluster);
  const certFile = path.join(dir, TLS_FILES.certificate);
  const keyFile = path.join(dir, TLS_FILES.key);
  await writeFileAtomically(keyFile, keyText, { mode: 0o600 });
  await writeFileAtomically(certFile, certText, { mode: 0o644 });
  return { certificate: certFile, key: keyFile, ca: undefined, development: false };
}

/** Make (or refresh) the balancer's TLS files; undefined when the topology has no TLS. */
export async function ensureTls(cluster: ClusterContext): Promise<TlsFiles | undefined> {
  const tls = cluster.topology.balancer.tls;
  if (!tls) return undefined;
  if (tls.certificate && tls.key) return copyOwnCert(cluster, tls.certificate, tls.key);
  return ensureDevCert(cluster);
}

/** The TLS files as they are now (for the session client of verify): the CA to trust, if ours. */
export async function readTls(cluster: ClusterContext): Promise<TlsFiles | undefined> {
  const tls = cluster.topology.balancer.tls;
  if (!tls) return undefined;
  const dir = tlsDirOf(cluster);
  const own = Boolean(tls.certificate && tls.key);
  return {
    certificate: path.join(dir, TLS_FILES.certificate),
    key: path.join(dir, TLS_FILES.key),
    ca: own ? undefined : await readIfExists(path.join(caDir(cluster.env), "ca.pem")),
    development: !own,
  };
}
