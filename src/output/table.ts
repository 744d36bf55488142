import stringWidth from "string-width";
import wrapAnsi from "wrap-ansi";

/** The narrowest the last column gets, however wide the columns before it are. */
const MIN_LAST = 20;
const GAP = "  ";

export interface TableOptions {
  /** Paint a body cell (row ≥ 0), given its padded text; the header is never painted. */
  style?: ((row: number, col: number, text: string) => string) | undefined;
  /**
   * The widest a line may be, in terminal columns (ANSI codes do not count). Only the last column
   * wraps to fit: at word boundaries (a word longer than the column is broken), each continuation
   * line indented to start under that column. Unset: lines are as long as their cells.
   */
  width?: number | undefined;
}

/** Pad to a visible width: ANSI colour codes take no columns. */
function padEnd(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - stringWidth(text)));
}

/** A plain text table: every column but the last padded to its widest cell; the last one wraps to fit `width`. */
export function table(header: string[], rows: string[][], opts: TableOptions = {}): string {
  const { style, width } = opts;
  const last = header.length - 1;
  const widths = header.map((h, i) => Math.max(stringWidth(h), ...rows.map((r) => stringWidth(r[i] ?? ""))));
  // where the last column starts: every column before it and the gaps between them
  const indent = widths.slice(0, last).reduce((sum, w) => sum + w + GAP.length, 0);
  const lastWidth = width === undefined ? undefined : Math.max(MIN_LAST, width - indent);
  const line = (cells: string[], row: number): string[] => {
    const paint = (col: number, text: string) => (style && row >= 0 ? style(row, col, text) : text);
    const lead = header
      .slice(0, last)
      .map((_h, i) => paint(i, padEnd(cells[i] ?? "", widths[i] ?? 0)))
      .join(GAP);
    const text = cells[last] ?? "";
    const wrapped = lastWidth === undefined ? text : wrapAnsi(text, lastWidth, { hard: true, trim: true });
    const [first = "", ...more] = wrapped.split("\n");
    return [
      `${lead}${last > 0 ? GAP : ""}${paint(last, first)}`.trimEnd(),
      ...more.map((l) => `${" ".repeat(indent)}${paint(last, l)}`.trimEnd()),
    ];
  };
  return [...line(header, -1), ...rows.flatMap((r, i) => line(r, i))].join("\n");
}
