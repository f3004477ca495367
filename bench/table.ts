/**
 * Markdown tables, padded so that they also read well in a terminal.
 */

export interface Column {
  readonly title: string;
  /** Default `left`; numbers read better `right`. */
  readonly align?: 'left' | 'right';
}

function escapeCell(cell: string): string {
  return cell.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** A GitHub-flavoured markdown table; rows shorter than the header are padded with empty cells. */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => columns.map((_, i) => escapeCell(row[i] ?? '')));
  const titles = columns.map((c) => escapeCell(c.title));
  const widths = columns.map((_, i) => Math.max(3, titles[i]!.length, ...cells.map((row) => row[i]!.length)));
  const pad = (text: string, i: number) =>
    columns[i]!.align === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!);
  const line = (row: readonly string[]) => `| ${row.map(pad).join(' | ')} |`;
  // The rule as prettier writes it, so that the output pastes into markdown files unchanged.
  const rule = `| ${columns
    .map((c, i) => (c.align === 'right' ? `${'-'.repeat(widths[i]! - 1)}:` : '-'.repeat(widths[i]!)))
    .join(' | ')} |`;
  return [line(titles), rule, ...cells.map(line)].join('\n');
}
