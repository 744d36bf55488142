import type { RuntimeDriver } from "../driver.js";

/** The last `count` non-empty lines of a text (carriage returns removed). */
export function lastLines(text: string, count: number): string[] {
  return text
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l) => l.trim() !== "")
    .slice(-count);
}

/** The last lines a node logged, for an error message (access logs left out). */
export async function logTail(driver: RuntimeDriver, node: string, lines = 15): Promise<string[]> {
  try {
    const chunks = (await driver.logs({ node, tail: lines })).filter((c) => !c.file.endsWith("access.log"));
    const many = chunks.length > 1;
    const out = chunks.flatMap((c) => c.lines.map((l) => (many ? `${c.file.split("/").pop()}: ${l}` : l)));
    return out.slice(-lines);
  } catch {
    return [];
  }
}
