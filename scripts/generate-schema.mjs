// Regenerates schema/phpcluster.schema.json from the zod schema (run `npm run build` first).
import { writeFileSync } from "node:fs";
import { topologyJsonSchemaText } from "../dist/topology/json-schema.js";

const target = new URL("../schema/phpcluster.schema.json", import.meta.url);
writeFileSync(target, topologyJsonSchemaText());
console.log(`wrote ${target.pathname}`);
