import path from "node:path";

/**
 * A path as people are shown it: relative to the working directory only when that is shorter
 * than the absolute path (`public/index.php`, `.` for cwd itself), else absolute (`/tmp/x/y.xml`
 * from `/work/main`, never `../../tmp/x/y.xml`). A relative `target` is taken from `cwd`.
 */
export function shownPath(cwd: string, target: string): string {
  const absolute = path.resolve(cwd, target);
  const relative = path.relative(path.resolve(cwd), absolute) || ".";
  return relative.length < absolute.length ? relative : absolute;
}
