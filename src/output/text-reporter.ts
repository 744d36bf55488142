import type { PhpclusterError } from "../errors.js";
import { formatFailure } from "./failure.js";
import type { Reporter, ReporterMode } from "./reporter.js";
import { type HumanFormatter, outputWidth, type Style } from "./style.js";

export interface Streams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * Line-oriented output without spinners: CI, pipes, NO_COLOR. Each step prints one line, when it
 * ends (✔ or ✖, with its time); a step inside another is indented under it.
 */
export class PlainReporter implements Reporter {
  readonly mode: ReporterMode = "plain";
  private depth = 0;
  constructor(
    protected readonly streams: Streams,
    protected readonly style: Style,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async step<T>(title: string, work: () => Promise<T>): Promise<T> {
    const started = this.now();
    const indent = "  ".repeat(this.depth);
    this.depth++;
    try {
      const value = await work();
      this.streams.stderr.write(
        `${indent}${this.style.ok("✔")} ${title} ${this.style.dim(this.elapsed(started))}\n`,
      );
      return value;
    } catch (err) {
      this.streams.stderr.write(
        `${indent}${this.style.err("✖")} ${title} ${this.style.dim(this.elapsed(started))}\n`,
      );
      throw err;
    } finally {
      this.depth--;
    }
  }

  protected elapsed(started: number): string {
    const ms = this.now() - started;
    return ms < 1000 ? `(${Math.round(ms)} ms)` : `(${(ms / 1000).toFixed(1)} s)`;
  }

  info(message: string): void {
    this.streams.stderr.write(`${message}\n`);
  }

  warn(message: string): void {
    this.streams.stderr.write(`${this.style.warn("⚠")} ${message}\n`);
  }

  detail<T>(data: T, human: HumanFormatter<T>): void {
    const text = human(data, this.style, outputWidth(this.streams.stdout));
    if (text) this.streams.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  line(text: string): void {
    this.streams.stdout.write(`${text}\n`);
  }

  result<T>(_command: string, data: T, human: HumanFormatter<T>): void {
    const text = human(data, this.style, outputWidth(this.streams.stdout));
    if (text) this.streams.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  failure(_command: string, error: PhpclusterError | Error, debug: boolean): void {
    this.streams.stderr.write(`${formatFailure(error, this.style, debug)}\n`);
  }
}
