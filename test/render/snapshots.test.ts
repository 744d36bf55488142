import { describe, expect, it } from "vitest";
import { PROBE_FILES, renderCluster } from "../../src/render/index.js";
import { launcherFiles } from "../../src/render/memcached.js";
import { FIXTURE_NAMES, fixture, ROOT_FROM_OUT } from "./fixtures.js";

const LAUNCHER_IMAGE_DIR = "images/memcached/launcher/";

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
        if (file.path.startsWith(LAUNCHER_IMAGE_DIR)) {
          // the launcher's compiled modules: the build's output, copied unchanged
          const own = launcherFiles().find((f) => `${LAUNCHER_IMAGE_DIR}${f.path}` === file.path);
          expect(own?.content, file.path).toBe(file.content);
          continue;
        }
        await expect(file.content).toMatchFileSnapshot(`./__snapshots__/${name}/${target}/${file.path}`);
      }
    });
  }
});
