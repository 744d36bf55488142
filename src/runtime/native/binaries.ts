import { access, constants, readdir } from "node:fs/promises";
import path from "node:path";
import which from "which";
import type { Prerequisite } from "../driver.js";

export interface NativeBinaries {
  nginx: string;
  apache2: string;
  memcached: string;
  /** Apache's mod_php, e.g. /usr/lib/apache2/modules/libphp8.2.so */
  phpModule: string;
}

const SBIN = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

async function executable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A program on PATH, or in the sbin directories a non-root PATH often lacks (nginx, apache2). */
export async function findProgram(name: string, envPath: string): Promise<string | undefined> {
  const dirs = [...envPath.split(path.delimiter).filter(Boolean), ...SBIN];
  return (await which(name, { path: dirs.join(path.delimiter), nothrow: true })) ?? undefined;
}

async function firstMatch(dir: string, re: RegExp): Promise<string | undefined> {
  try {
    const names = (await readdir(dir)).filter((n) => re.test(n)).sort();
    const last = names[names.length - 1];
    return last === undefined ? undefined : path.join(dir, last);
  } catch {
    return undefined;
  }
}

/** The PHP memcached extension in any of the distribution's extension directories. */
async function findMemcachedExtension(): Promise<string | undefined> {
  let apis: string[];
  try {
    apis = (await readdir("/usr/lib/php")).sort().reverse();
  } catch {
    return undefined;
  }
  for (const api of apis) {
    const candidate = path.join("/usr/lib/php", api, "memcached.so");
    try {
      await access(candidate, constants.R_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

export interface NativeCheck {
  prerequisites: Prerequisite[];
  binaries: NativeBinaries | undefined;
}

/** What the native runtime needs, found or not, with the Debian package of each. */
export async function checkNativeBinaries(env: NodeJS.ProcessEnv): Promise<NativeCheck> {
  // PHPCLUSTER_NGINX / _APACHE2 / _MEMCACHED point at other builds of the programs
  const program = async (name: string, override: string | undefined) =>
    override ? ((await executable(override)) ? override : undefined) : findProgram(name, env.PATH ?? "");
  const [nginx, apache2, memcached, phpModule, extension] = await Promise.all([
    program("nginx", env.PHPCLUSTER_NGINX),
    program("apache2", env.PHPCLUSTER_APACHE2),
    program("memcached", env.PHPCLUSTER_MEMCACHED),
    firstMatch("/usr/lib/apache2/modules", /^libphp[0-9.]*\.so$/),
    findMemcachedExtension(),
  ]);
  const item = (name: string, found: string | undefined, pkg: string): Prerequisite => ({
    name,
    ok: found !== undefined,
    detail: found ?? "not found",
    package: pkg,
  });
  const prerequisites = [
    item("nginx", nginx, "nginx"),
    item("apache2", apache2, "apache2"),
    item("mod_php (libphp*.so)", phpModule, "libapache2-mod-php"),
    item("PHP memcached extension", extension, "php-memcached"),
    item("memcached", memcached, "memcached"),
  ];
  const binaries =
    nginx && apache2 && memcached && phpModule && extension
      ? { nginx, apache2, memcached, phpModule }
      : undefined;
  return { prerequisites, binaries };
}
