import { describe, expect, it } from "vitest";
import { parseNginxVersion } from "../../src/runtime/kit/index.js";

describe("parseNginxVersion (nginx -v writes to stderr)", () => {
  it("takes the name/version from nginx -v's line, and nothing else", () => {
    expect(parseNginxVersion("nginx version: nginx/1.22.1\n")).toBe("nginx/1.22.1");
    expect(parseNginxVersion("\nnginx version: nginx/1.26.3 (Debian)\n")).toBe("nginx/1.26.3");
    expect(parseNginxVersion("OCI runtime exec failed: exec failed: nginx: not found")).toBeUndefined();
    expect(parseNginxVersion("")).toBeUndefined();
  });
});
