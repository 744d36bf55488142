import type { ReporterMode } from "./reporter.js";
import { PlainReporter } from "./text-reporter.js";

/** A terminal: one ora spinner per step, on stderr. */
export class InteractiveReporter extends PlainReporter {
  override readonly mode: ReporterMode = "interactive";

  override async step<T>(title: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    // loaded on first use: most runs (CI, pipes, --json) never show a spinner
    const { default: ora } = await import("ora");
    // discardStdin off: ora's discarder puts the terminal in raw mode, where Ctrl-C is a byte it
    // must read to re-raise SIGINT, and it never reads it (stdin is not flowing), so ^C was lost
    // while a spinner showed. The terminal keeps generating SIGINT itself this way.
    const spinner = ora({
      text: title,
      stream: this.streams.stderr as NodeJS.WriteStream,
      discardStdin: false,
    }).start();
    try {
      const value = await work();
      spinner.succeed(`${title} ${this.style.dim(this.elapsed(started))}`);
      return value;
    } catch (err) {
      spinner.fail(`${title} ${this.style.dim(this.elapsed(started))}`);
      throw err;
    }
  }
}
