import type { Ora } from "ora";
import type { ReporterMode } from "./reporter.js";
import { PlainReporter } from "./text-reporter.js";

/**
 * A terminal: one ora spinner at a time, on stderr. A step inside another pauses the outer
 * spinner, shows its own (indented under it) and leaves its ✔ line; the outer one then spins on.
 */
export class InteractiveReporter extends PlainReporter {
  override readonly mode: ReporterMode = "interactive";
  private readonly spinners: Ora[] = [];

  override async step<T>(title: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    // loaded on first use: most runs (CI, pipes, --json) never show a spinner
    const { default: ora } = await import("ora");
    const outer = this.spinners.at(-1);
    const pad = "  ".repeat(this.spinners.length);
    outer?.stop(); // cleared, not persisted: it is shown again when this step ends
    // discardStdin off: ora's discarder puts the terminal in raw mode, where Ctrl-C is a byte it
    // must read to re-raise SIGINT, and it never reads it (stdin is not flowing), so ^C was lost
    // while a spinner showed. The terminal keeps generating SIGINT itself this way.
    const spinner = ora({
      text: title,
      stream: this.streams.stderr as NodeJS.WriteStream,
      discardStdin: false,
      indent: pad.length,
      // the reporter was chosen for a terminal outside CI (selectReporter, from the env it was
      // given): ora's own look at process.env must not overrule it
      isEnabled: true,
    }).start();
    this.spinners.push(spinner);
    try {
      const value = await work();
      spinner.stopAndPersist({
        symbol: `${pad}${this.style.ok("✔")}`,
        text: `${title} ${this.style.dim(this.elapsed(started))}`,
      });
      return value;
    } catch (err) {
      spinner.stopAndPersist({
        symbol: `${pad}${this.style.err("✖")}`,
        text: `${title} ${this.style.dim(this.elapsed(started))}`,
      });
      throw err;
    } finally {
      this.spinners.pop();
      outer?.start();
    }
  }
}
