/** A plain text table: columns padded to their widest cell (ANSI-free widths expected). */
export function table(
  header: string[],
  rows: string[][],
  style?: (row: number, col: number, text: string) => string,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[], row: number) =>
    cells
      .map((c, i) => {
        const padded = i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0);
        return style && row >= 0 ? style(row, i, padded) : padded;
      })
      .join("  ")
      .trimEnd();
  return [line(header, -1), ...rows.map((r, i) => line(r, i))].join("\n");
}
