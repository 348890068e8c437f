import { memo, type ReactNode } from "react";

export interface Column<T> {
  title: string;
  /** Right-aligned, monospaced figures. */
  numeric?: boolean;
  cell: (row: T) => ReactNode;
  /** Extra classes for the cell, e.g. "up" or "down". */
  tone?: (row: T) => string;
}

interface Props<T> {
  columns: Column<T>[];
  rows: readonly T[];
  rowKey: (row: T) => string | number;
  testId?: string;
  rowTitle?: (row: T) => string;
  compact?: boolean;
}

/**
 * The dense tables of the app: one column list says what each column shows. A row re-renders only when its row
 * object or the column list changes, so a table whose columns are memoized (the tape) renders only its new rows.
 */
export function DataTable<T>({ columns, rows, rowKey, testId, rowTitle, compact = true }: Props<T>) {
  return (
    <table className={compact ? "grid compact" : "grid"} data-testid={testId}>
      <thead>
        <tr>
          {columns.map((column) => (
            <th key={column.title} className={column.numeric ? "num" : undefined}>
              {column.title}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <DataRow key={rowKey(row)} row={row} columns={columns} title={rowTitle?.(row)} />
        ))}
      </tbody>
    </table>
  );
}

const DataRow = memo(function DataRow<T>({ row, columns, title }: { row: T; columns: Column<T>[]; title?: string }) {
  return (
    <tr title={title}>
      {columns.map((column) => (
        <td
          key={column.title}
          className={[column.numeric ? "num" : "", column.tone?.(row) ?? ""].join(" ").trim() || undefined}
        >
          {column.cell(row)}
        </td>
      ))}
    </tr>
  );
}) as <T>(props: { row: T; columns: Column<T>[]; title?: string | undefined }) => ReactNode;

/** The colour of a signed figure or a side. */
export const toneOf = (value: number | "buy" | "sell"): string =>
  value === "buy" || (typeof value === "number" && value > 0)
    ? "up"
    : value === "sell" || (typeof value === "number" && value < 0)
      ? "down"
      : "";
