import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { type ParsedCommand, runCli } from "../../src/cli.js";

/**
 * The global options (-f/--file, --json, --no-color, --debug) are declared once and read the same
 * way by every command, wherever they are placed on the line. Parse only: every action reports
 * what it was given instead of running.
 */
async function parse(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const parsed: ParsedCommand[] = [];
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d) => {
    stdout += d;
  });
  err.on("data", (d) => {
    stderr += d;
  });
  const code = await runCli({
    argv: ["node", "phpcluster", ...argv],
    env,
    cwd: "/nonexistent",
    stdout: out,
    stderr: err,
    isTTY: false,
    signal: new AbortController().signal,
    onParsed: (p) => parsed.push(p),
  });
  return { code, parsed: parsed[0], calls: parsed.length, stdout, stderr };
}

/** Every command with arguments it accepts, and what the command must see of them. */
const COMMANDS: {
  command: string;
  args: string[];
  expect?: Partial<Pick<ParsedCommand, "args" | "options">>;
}[] = [
  { command: "init", args: ["--name", "shop"], expect: { options: { name: "shop" } } },
  { command: "validate", args: [] },
  {
    command: "render",
    args: ["--dry-run", "--runtime", "native"],
    expect: { options: { dryRun: true, runtime: "native" } },
  },
  { command: "create", args: ["--timeout", "90s"], expect: { options: { timeout: 90_000 } } },
  { command: "logs", args: ["-n", "7"], expect: { options: { tail: 7 } } },
  { command: "status", args: [] },
  { command: "config get", args: ["balancer.port"], expect: { args: ["balancer.port"] } },
  {
    command: "config set",
    args: ["php.memory_limit=384M", "--apply", "--node", "app2"],
    expect: { args: [["php.memory_limit=384M"]], options: { apply: true, node: "app2" } },
  },
  { command: "config unset", args: ["php.memory_limit"], expect: { args: [["php.memory_limit"]] } },
  { command: "config list", args: [] },
  { command: "restart", args: ["app1", "lb"], expect: { args: [["app1", "lb"]] } },
  {
    command: "failover",
    args: ["--node", "app1", "--mode", "stop"],
    expect: { options: { node: "app1", mode: "stop" } },
  },
  { command: "verify", args: ["--scenario", "health"], expect: { options: { scenario: ["health"] } } },
  { command: "logs", args: ["app1", "--tail", "5"], expect: { args: ["app1"], options: { tail: 5 } } },
  { command: "destroy", args: [] },
  { command: "doctor", args: [] },
];

const FILE = "deploy/other.yml";

/** Where -f and --json can go: before the command, right after its name, after its arguments. */
function placements(command: string, args: string[]): { where: string; argv: string[] }[] {
  const words = command.split(" ");
  const out = [
    { where: "before the command", argv: ["-f", FILE, "--json", ...words, ...args] },
    { where: "after the command", argv: [...words, "-f", FILE, "--json", ...args] },
    { where: "after its arguments", argv: [...words, ...args, "--json", "--file", FILE] },
    { where: "split around it", argv: ["--json", ...words, ...args, `--file=${FILE}`] },
  ];
  if (words.length === 2) {
    out.push({
      where: "between group and subcommand",
      argv: [words[0] as string, "-f", FILE, words[1] as string, "--json", ...args],
    });
  }
  return out;
}

describe("global options, in every placement, for every command", () => {
  for (const c of COMMANDS) {
    for (const p of placements(c.command, c.args)) {
      it(`${c.command}: -f and --json ${p.where}`, async () => {
        const r = await parse(p.argv);
        expect(r.code, r.stderr).toBe(0);
        expect(r.calls).toBe(1);
        expect(r.parsed?.command).toBe(c.command);
        expect(r.parsed?.globals).toEqual({ file: FILE, json: true, color: true, debug: false });
        if (c.expect?.args) expect(r.parsed?.args).toEqual(c.expect.args);
        if (c.expect?.options) expect(r.parsed?.options).toMatchObject(c.expect.options);
      });
    }
  }

  it("without -f every command reads ./phpcluster.yml", async () => {
    for (const c of COMMANDS) {
      const r = await parse([...c.command.split(" "), ...c.args]);
      expect(r.parsed?.globals.file, c.command).toBe("phpcluster.yml");
      expect(r.parsed?.globals.json, c.command).toBe(false);
    }
  });

  it("--no-color and --debug reach the command wherever they are", async () => {
    expect((await parse(["--no-color", "status"])).parsed?.globals.color).toBe(false);
    expect((await parse(["status", "--no-color"])).parsed?.globals.color).toBe(false);
    expect((await parse(["config", "list", "--debug"])).parsed?.globals.debug).toBe(true);
    expect((await parse(["--debug", "config", "list"])).parsed?.globals.debug).toBe(true);
    expect((await parse(["status"], { PHPCLUSTER_DEBUG: "1" })).parsed?.globals.debug).toBe(true);
  });

  it("the innermost -f wins when it is given twice", async () => {
    expect((await parse(["-f", "a.yml", "validate", "-f", "b.yml"])).parsed?.globals.file).toBe("b.yml");
  });
});

describe("what is not an option of a command stays an error", () => {
  it("validate -V is an unknown option (the version is the root's), exit 2", async () => {
    const r = await parse(["validate", "-V"]);
    expect(r.code).toBe(2);
    expect(r.calls).toBe(0);
    expect(r.stderr).toMatch(/unknown option '-V'/);
    expect((await parse(["-V"])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("a usage error under --json names the command, not the value of -f", async () => {
    const r = await parse(["--json", "-f", "x", "validate", "--bogus"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, command: "validate", error: { code: "USAGE" } });
    const sub = await parse(["--json", "-f", "x", "config", "set", "--bogus"]);
    expect(JSON.parse(sub.stdout)).toMatchObject({ ok: false, command: "config set" });
  });

  it("--timeout shows its default as a duration, and accepts what it shows", async () => {
    for (const [command, shown] of [
      ["create", "2m"],
      ["up", "2m"],
      ["start", "2m"],
      ["restart", "1m"],
    ] as const) {
      const help = await parse([command, "--help"]);
      expect(help.stdout).toMatch(new RegExp(`--timeout <duration>[\\s\\S]*?\\(default: ${shown}\\)`));
      expect((await parse([command, "--timeout", shown])).parsed?.options.timeout).toBe(
        shown === "2m" ? 120_000 : 60_000,
      );
    }
  });

  it("a bad option value is a usage error", async () => {
    expect((await parse(["create", "--timeout", "soon"])).code).toBe(2);
    expect((await parse(["logs", "--tail", "-3"])).code).toBe(2);
    expect((await parse(["render", "--runtime", "kubernetes"])).code).toBe(2);
  });
});
