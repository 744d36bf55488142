import { access, constants, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import {
  EXTENSION_PACKAGES,
  extensionPackage,
  REQUIRED_EXTENSIONS,
  type Topology,
  ZEND_EXTENSIONS,
} from "../../topology/index.js";

/**
 * What mod_php loads on this host: the distribution's per-SAPI configuration
 * (`/etc/php/X.Y/apache2/conf.d`, which Debian's packages fill as they are installed), and how
 * the app nodes get what the topology needs on top of it, each extension exactly once.
 */
export interface PhpInstall {
  /** "8.2", from the mod_php shared object's name (libphp8.2.so). */
  version: string;
  /** The apache2 SAPI's conf.d. */
  confD: string;
  /** Where the shared extensions are (`/usr/lib/php/<api>/`). */
  extensionDir: string | undefined;
}

export function phpInstallOf(phpModule: string): PhpInstall | undefined {
  const m = /libphp([0-9]+\.[0-9]+)\.so$/.exec(phpModule);
  if (!m?.[1]) return undefined;
  return { version: m[1], confD: `/etc/php/${m[1]}/apache2/conf.d`, extensionDir: undefined };
}

const LINE = /^\s*(zend_extension|extension)\s*=\s*"?([^";\s]+?)"?\s*(?:;.*)?$/;

/** The extensions an ini text loads (by name: `memcached.so` and `/x/opcache.so` are memcached, opcache). */
export function extensionsIn(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = LINE.exec(line);
    if (m?.[2]) out.push(path.basename(m[2]).replace(/\.so$/, "").toLowerCase());
  }
  return out;
}

/** The extensions the distribution's conf.d loads for mod_php. */
export async function enabledExtensions(confD: string): Promise<string[]> {
  let files: string[];
  try {
    files = (await readdir(confD)).filter((f) => f.endsWith(".ini")).sort();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const f of files) {
    try {
      out.push(...extensionsIn(await readFile(path.join(confD, f), "utf8")));
    } catch {}
  }
  return out;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The extension directories of the distribution, newest API first. */
async function extensionDirs(): Promise<string[]> {
  try {
    return (await readdir("/usr/lib/php"))
      .filter((d) => /^\d{8}$/.test(d))
      .sort()
      .reverse()
      .map((d) => path.join("/usr/lib/php", d));
  } catch {
    return [];
  }
}

export interface ExtensionPlan {
  /** Loaded by the distribution's conf.d already. */
  enabled: string[];
  /** Installed but not enabled: phpcluster loads them (its own scanned ini). */
  toLoad: { name: string; directive: "extension" | "zend_extension" }[];
  /** Needed and not installed: the package to install. */
  missing: { name: string; package: string | undefined }[];
}

/** What the app nodes need (the session handler with its serializers, and app.extensions), against what is here. */
export async function planExtensions(t: Topology, install: PhpInstall): Promise<ExtensionPlan> {
  const wanted = [...REQUIRED_EXTENSIONS, ...t.app.extensions.map((e) => e.toLowerCase())];
  const enabledHere = new Set(await enabledExtensions(install.confD));
  const dirs = install.extensionDir ? [install.extensionDir] : await extensionDirs();
  const plan: ExtensionPlan = { enabled: [], toLoad: [], missing: [] };
  for (const name of [...new Set(wanted)]) {
    const kind = EXTENSION_PACKAGES[name];
    if (kind === "core") continue; // compiled into PHP
    if (enabledHere.has(name)) {
      plan.enabled.push(name);
      continue;
    }
    let found = false;
    for (const dir of dirs) if (await exists(path.join(dir, `${name}.so`))) found = true;
    if (found)
      plan.toLoad.push({ name, directive: ZEND_EXTENSIONS.has(name) ? "zend_extension" : "extension" });
    else plan.missing.push({ name, package: extensionPackage(name) ?? `php${install.version}-common` });
  }
  return plan;
}

/** The ini that loads what the distribution's conf.d does not (empty when it loads everything). */
export function extensionsIni(plan: ExtensionPlan): string {
  if (plan.toLoad.length === 0) return "";
  return [
    "; Extensions the app nodes need that the distribution's conf.d does not load (installed, not enabled).",
    "; Written by phpcluster when the native runtime starts an app node.",
    ...plan.toLoad.map((e) => `${e.directive}=${e.name}`),
    "",
  ].join("\n");
}
