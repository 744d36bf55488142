import { describe, expect, it } from "vitest";
import { PROBE_FILES, renderCluster } from "../../src/render/index.js";
import { FIXTURE_NAMES, fixture, ROOT_FROM_OUT } from "./fixtures.js";

describe.each(FIXTURE_NAMES)("rendered files of %s", (name) => {
  for (const target of ["native", "compose"] as const) {
    it(`${target}: every file matches its snapshot`, async () => {
      const files = renderCluster(fixture(name), { target, rootFromOut: ROOT_FROM_OUT });
      // The list itself, so that a file that stops being rendered fails too.
      const listing = files
        .map((f) => `${f.path}${f.mode === undefined ? "" : ` ${f.mode.toString(8)}`}\n`)
        .join("");
      await expect(listing).toMatchFileSnapshot(`./__snapshots__/${name}/${target}.files`);
      for (const file of files) {
        if ((PROBE_FILES as readonly string[]).includes(file.path)) {
          // the probe does not depend on the topology: one snapshot for every fixture and target
          await expect(file.content).toMatchFileSnapshot(`./__snapshots__/${file.path}`);
          continue;
        }
        await expect(file.content).toMatchFileSnapshot(`./__snapshots__/${name}/${target}/${file.path}`);
      }
    });
  }
});
