/** Printing for the admin commands: `--json` prints the data as one JSON document, else a table or a sentence. */

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

export function printLines(...lines: string[]): void {
  process.stdout.write(lines.join('\n') + '\n');
}

/** Columns padded to their widest cell; the last column is not padded. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  printLines(format(headers), ...rows.map(format));
}
