import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";

/**
 * A real pseudo-terminal for a command: a tmux session on a server of its own (its own socket),
 * so the command sees a TTY on stdin and stderr and shows its spinners, and ^C goes through the
 * terminal's line discipline as it does for a person at a keyboard.
 */
export class Terminal {
  private readonly socket: string;
  private readonly exitFile: string;

  constructor(
    private readonly dir: string,
    name: string,
  ) {
    this.socket = `phpcluster-test-${name}-${process.pid}`;
    this.exitFile = path.join(dir, `.exit-${name}`);
  }

  private tmux(args: string[]) {
    return execa("tmux", ["-L", this.socket, ...args], { reject: false, timeout: 10_000, stdin: "ignore" });
  }

  /** Start `argv` in the terminal (CI unset, so the interactive reporter is chosen), in `cwd`. */
  async start(argv: string[], env: Record<string, string> = {}): Promise<void> {
    const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const exports = Object.entries(env)
      .map(([k, v]) => `${k}=${quote(v)}`)
      .join(" ");
    const script = `cd ${quote(this.dir)} && env -u CI -u NO_COLOR ${exports} ${argv.map(quote).join(" ")}; echo $? > ${quote(this.exitFile)}; sleep 600`;
    const r = await this.tmux(["new-session", "-d", "-x", "160", "-y", "50", "bash", "-c", script]);
    if (r.exitCode !== 0) throw new Error(`tmux new-session failed: ${r.stderr}`);
  }

  async screen(): Promise<string> {
    return (await this.tmux(["capture-pane", "-p", "-S", "-200"])).stdout;
  }

  /** Wait (bounded) until the screen shows `pattern`. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await this.screen();
      if (pattern.test(text)) return text;
      if (existsSync(this.exitFile) || Date.now() > deadline) {
        throw new Error(`the terminal never showed ${pattern} (exit: ${this.exitCode() ?? "-"}):\n${text}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** ^C, as typed. */
  async interrupt(): Promise<void> {
    await this.tmux(["send-keys", "C-c"]);
  }

  exitCode(): number | undefined {
    if (!existsSync(this.exitFile)) return undefined;
    const text = readFileSync(this.exitFile, "utf8").trim();
    return text === "" ? undefined : Number(text);
  }

  /** Wait (bounded) for the command to exit; its exit code. */
  async waitExit(timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const code = this.exitCode();
      if (code !== undefined) return code;
      if (Date.now() > deadline)
        throw new Error(`still running after ${timeoutMs} ms:\n${await this.screen()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await this.tmux(["kill-server"]);
  }
}

/** A spinner frame (ora's dots) before a step's title: the step is running, shown on the terminal. */
export const spinning = (title: string) =>
  new RegExp(`[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] ${title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`);
