/** Text roles the human formatters use; the reporter decides whether they carry colour. */
export interface Style {
  ok(text: string): string;
  warn(text: string): string;
  err(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
  path(text: string): string;
}

export const PLAIN_STYLE: Style = {
  ok: (t) => t,
  warn: (t) => t,
  err: (t) => t,
  dim: (t) => t,
  bold: (t) => t,
  path: (t) => t,
};

/**
 * How a command's result reads for people; JSON mode prints the data instead. `width` is how wide
 * a line may be (the terminal's columns, 80 when stdout is not a terminal): tables fit it.
 */
export type HumanFormatter<T> = (data: T, style: Style, width: number) => string;

/** Lines fit this many columns when stdout is not a terminal (a pipe, a file, CI). */
export const DEFAULT_WIDTH = 80;

/** How wide stdout's lines may be: a terminal's columns, else DEFAULT_WIDTH. */
export function outputWidth(stdout: NodeJS.WritableStream): number {
  const tty = stdout as Partial<Pick<NodeJS.WriteStream, "isTTY" | "columns">>;
  return tty.isTTY && typeof tty.columns === "number" && tty.columns > 0 ? tty.columns : DEFAULT_WIDTH;
}
