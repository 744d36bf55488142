import type { ReporterMode } from "./reporter.js";
import type { Style } from "./style.js";
import { PlainReporter, type Streams } from "./text-reporter.js";

/** A terminal: one ora spinner per step, on stderr. */
export class InteractiveReporter extends PlainReporter {
  override readonly mode: ReporterMode = "interactive";
  constructor(streams: Streams, style: Style) {
    super(streams, style);
  }

  override async step<T>(title: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    // loaded on first use: most runs (CI, pipes, --json) never show a spinner
    const { default: ora } = await import("ora");
    const spinner = ora({ text: title, stream: this.streams.stderr as NodeJS.WriteStream }).start();
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
