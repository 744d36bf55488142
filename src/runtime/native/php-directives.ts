import { execa } from "execa";

/**
 * The php.ini directives the PHP on this host reports (`ini_get_all()` of its CLI, which loads
 * the same conf.d extensions Debian enables for every SAPI); undefined when there is no `php`.
 */
export async function installedPhpDirectives(env: NodeJS.ProcessEnv): Promise<string[] | undefined> {
  try {
    const { stdout } = await execa("php", ["-r", "echo json_encode(array_keys(ini_get_all()));"], {
      timeout: 5000,
      env,
      extendEnv: false,
    });
    const names: unknown = JSON.parse(stdout);
    return Array.isArray(names) ? names.filter((n): n is string => typeof n === "string") : undefined;
  } catch {
    return undefined;
  }
}
