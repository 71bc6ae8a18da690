/** The bench's verdict table: one row a figure, with its reference, ratio, target and verdict. */

export interface Row {
  figure: string;
  bazil: string;
  reference: string;
  ratio: string;
  target: string;
  verdict: 'PASS' | 'FAIL' | 'INFO';
}

export function printTable(rows: Row[]): void {
  const cells = [
    ['figure', 'Bazil', 'ceiling / reference', 'ratio', 'target', 'verdict'],
    ...rows.map((r) => [r.figure, r.bazil, r.reference, r.ratio, r.target, r.verdict]),
  ];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd();
  console.log(line(cells[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of cells.slice(1)) console.log(line(row));
}
