// A table of figures whose column headers sort it (the sort lives in the page's URL).

import type { ComponentChildren } from 'preact';
import type { Sort } from '../lib/pageState';

export interface Column<T> {
  key: string;
  label: ComponentChildren;
  title?: string;
  /** Right-aligned figures. */
  num?: boolean;
  /** What the column sorts by; without it the column does not sort. */
  value?: (row: T) => number | string | null | undefined;
  render: (row: T) => ComponentChildren;
}

/** Rows by the sorted column (missing figures last), ties by their keys. */
export function sortRows<T>(rows: T[], columns: Column<T>[], sort: Sort, rowKey: (row: T) => string): T[] {
  const col = columns.find((c) => c.key === sort.key && c.value);
  const val = (r: T) => {
    const v = col!.value!(r);
    return v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? null : v;
  };
  return [...rows].sort((a, b) => {
    if (col) {
      const va = val(a);
      const vb = val(b);
      if (va === null || vb === null) {
        if (va !== vb) return va === null ? 1 : -1;
      } else if (va !== vb) {
        const c = va < vb ? -1 : 1;
        return sort.desc ? -c : c;
      }
    }
    const ka = rowKey(a);
    const kb = rowKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

export function DataTable<T>({
  rows,
  columns,
  sort,
  onSort,
  rowKey,
  selected,
  onRowClick,
  rowClass,
  testid,
  empty,
}: {
  rows: T[];
  columns: Column<T>[];
  sort: Sort;
  onSort: (s: Sort) => void;
  rowKey: (row: T) => string;
  selected?: string | null;
  onRowClick?: (row: T) => void;
  rowClass?: (row: T) => string;
  testid: string;
  empty?: ComponentChildren;
}) {
  const sorted = sortRows(rows, columns, sort, rowKey);
  return (
    <table class="results figures" data-testid={testid}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th
              class={`col-${c.key} ${c.num ? 'num' : ''} ${c.value ? 'sortable' : ''}`}
              title={c.title}
              aria-sort={sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : 'none'}
              data-col={c.key}
              onClick={c.value ? () => onSort({ key: c.key, desc: sort.key === c.key ? !sort.desc : c.num === true }) : undefined}
            >
              {c.label}
              {sort.key === c.key && <span class="sort">{sort.desc ? '↓' : '↑'}</span>}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {sorted.length === 0 && (
          <tr class="empty">
            <td colSpan={columns.length} class="muted">
              {empty ?? 'Nothing in this range.'}
            </td>
          </tr>
        )}
        {sorted.map((r) => {
          const k = rowKey(r);
          return (
            <tr
              data-key={k}
              class={`${selected === k ? 'selected' : ''} ${onRowClick ? 'clickable' : ''} ${rowClass?.(r) ?? ''}`}
              onClick={
                onRowClick
                  ? (e) => {
                      // Links and buttons in a row do their own thing.
                      if ((e.target as HTMLElement).closest('a, button')) return;
                      onRowClick(r);
                    }
                  : undefined
              }
            >
              {columns.map((c) => (
                <td class={`col-${c.key} ${c.num ? 'num' : ''}`}>{c.render(r)}</td>
              ))}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
