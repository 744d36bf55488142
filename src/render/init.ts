import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Liquid } from "liquidjs";
import { CLUSTER_NAME_RE } from "../topology/index.js";
import type { RenderedFile } from "./index.js";

const TEMPLATES = fileURLToPath(new URL("../../templates/init/", import.meta.url));
export const SCHEMA_FILE = fileURLToPath(new URL("../../schema/phpcluster.schema.json", import.meta.url));

/** A valid cluster name from a directory name: `My Shop_2` -> `my-shop-2`. */
export function nameFromDirectory(dir: string): string {
  const slug = path
    .basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "")
    .slice(0, 31)
    .replace(/-+$/, "");
  return CLUSTER_NAME_RE.test(slug) ? slug : "phpcluster";
}

/** What `init` writes: the commented topology (pointing its editor at the JSON Schema) and a sample page. Pure. */
export function renderInitFiles(
  topologyName: string,
  clusterName: string,
  schemaRelative: string,
  port = 8080,
): RenderedFile[] {
  const liquid = new Liquid({ strictVariables: true, strictFilters: true });
  const yaml = liquid.parseAndRenderSync(
    readFileSync(path.join(TEMPLATES, "phpcluster.yml.liquid"), "utf8"),
    {
      name: clusterName,
      schema: schemaRelative,
      port: String(port),
    },
  );
  return [
    { path: topologyName, content: yaml },
    { path: "public/index.php", content: readFileSync(path.join(TEMPLATES, "index.php"), "utf8") },
  ];
}
