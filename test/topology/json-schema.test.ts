import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Ajv } from "ajv";
import ajvFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { topologyJsonSchema, topologyJsonSchemaText } from "../../src/topology/index.js";
import { REPO } from "../helpers/cli.js";

// a CommonJS module: its default export is on .default under ESM
const addFormats = ajvFormats.default;

const SCHEMA_FILE = path.join(REPO, "schema", "phpcluster.schema.json");

describe("the generated JSON Schema", () => {
  it("is in sync with the zod schema (run `npm run schema` after changing it)", () => {
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(topologyJsonSchemaText());
  });

  // formats too (ipv4, ipv6 of balancer.bind): without ajv-formats, Ajv ignores them
  const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
  const validate = ajv.compile(topologyJsonSchema());
  const examples = readdirSync(path.join(REPO, "examples")).filter((f) => f.endsWith(".yml"));

  it.each(examples)("accepts examples/%s, which points to it", (file) => {
    const text = readFileSync(path.join(REPO, "examples", file), "utf8");
    expect(text.split("\n")[0]).toBe("# yaml-language-server: $schema=../schema/phpcluster.schema.json");
    expect(validate(parse(text)), JSON.stringify(validate.errors)).toBe(true);
  });

  it("rejects unknown keys and out-of-range values, like the loader", () => {
    expect(validate({ name: "shop", balancer: { prot: 8080 } })).toBe(false);
    expect(validate({ name: "shop", balancer: { port: 70000 } })).toBe(false);
    expect(validate({ name: "shop", app: { replicas: 33 } })).toBe(false);
    expect(validate({ balancer: {} })).toBe(false);
  });

  it("checks formats: balancer.bind must be an IPv4 or IPv6 address", () => {
    expect(validate({ name: "shop", balancer: { bind: "0.0.0.0" } })).toBe(true);
    expect(validate({ name: "shop", balancer: { bind: "::1" } })).toBe(true);
    expect(validate({ name: "shop", balancer: { bind: "300.1.2.3" } })).toBe(false);
    expect(validate({ name: "shop", balancer: { bind: "localhost; rm -rf /" } })).toBe(false);
  });

  it("documents defaults and descriptions", () => {
    const s = topologyJsonSchema() as {
      properties: Record<string, { properties?: Record<string, unknown> }>;
    };
    expect(s.properties.balancer?.properties?.port).toMatchObject({
      default: 8080,
      description: expect.any(String),
    });
  });
});
