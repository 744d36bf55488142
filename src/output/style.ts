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

/** How a command's result reads for people; JSON mode prints the data instead. */
export type HumanFormatter<T> = (data: T, style: Style) => string;
