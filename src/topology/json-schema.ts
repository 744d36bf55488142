import { z } from "zod";
import { topologySchema } from "./schema.js";

/** The JSON Schema of the topology file (what users write), generated from the zod schema. */
export function topologyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(topologySchema, { io: "input", target: "draft-7", unrepresentable: "any" });
  return { ...schema, title: "phpcluster topology" };
}

export function topologyJsonSchemaText(): string {
  return `${JSON.stringify(topologyJsonSchema(), null, 2)}\n`;
}
