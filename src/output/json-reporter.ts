import { PhpclusterError } from "../errors.js";
import { toProblem } from "./failure.js";
import type { Reporter, ReporterMode } from "./reporter.js";
import type { Streams } from "./text-reporter.js";

/** `--json`: progress stays quiet, warnings go to stderr, stdout gets exactly one JSON document. */
export class JsonReporter implements Reporter {
  readonly mode: ReporterMode = "json";
  private written = false;
  constructor(private readonly streams: Streams) {}

  async step<T>(_title: string, work: () => Promise<T>): Promise<T> {
    return work();
  }

  info(): void {}

  detail(): void {}

  warn(message: string): void {
    this.streams.stderr.write(`warning: ${message}\n`);
  }

  private write(document: unknown): void {
    if (this.written) throw new Error("a JSON result was already written");
    this.written = true;
    this.streams.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  }

  line(): void {
    throw new Error("a streamed line has no place in one JSON document");
  }

  result<T>(command: string, data: T): void {
    this.write({ ok: true, command, data });
  }

  failure(command: string, error: PhpclusterError | Error): void {
    const data = error instanceof PhpclusterError ? error.data : undefined;
    this.write({ ok: false, command, ...(data === undefined ? {} : { data }), error: toProblem(error) });
  }
}
