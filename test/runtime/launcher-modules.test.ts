import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LAUNCHER_MODULES } from "../../src/render/memcached.js";

const SRC = path.join(import.meta.dirname, "..", "..", "src", "runtime", "memcached");

/** The modules a file imports at run time (type-only imports are erased by tsc). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(path.join(SRC, file), "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^import\s+(type\s+)?([^;]*?)\s+from\s+"([^"]+)";/gms)) {
    if (m[1]) continue; // import type { … }
    const names = (m[2] ?? "").replace(/[{}\s]/g, "");
    // import { type A, type B }: every name type-only is erased too
    if (names.length > 0 && names.split(",").every((n) => n.startsWith("type"))) continue;
    out.push(m[3] as string);
  }
  return out;
}

describe("the memcached launcher's modules (copied alone into the compose and swarm images)", () => {
  it("import nothing at run time but node: modules and each other", () => {
    for (const js of LAUNCHER_MODULES) {
      for (const spec of runtimeImports(js.replace(/\.js$/, ".ts"))) {
        if (spec.startsWith("node:")) continue;
        expect(LAUNCHER_MODULES as readonly string[], `${js} imports ${spec}`).toContain(
          spec.replace(/^\.\//, ""),
        );
      }
    }
  });
});
