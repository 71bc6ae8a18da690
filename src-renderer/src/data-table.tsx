/**
 * A table of the window: its own horizontal scroll, and one card per row in a narrow window
 * (app.css). A column given as { hidden } (the row's buttons, a checkbox) has a heading for screen
 * readers only; "" is { hidden: 'Actions' }.
 */
import type { ReactNode } from 'react';

type Column = string | { hidden: string };

export function DataTable({ columns, testId, children }: { columns: Column[]; testId?: string; children: ReactNode }) {
  return (
    <div className="scroll">
      <table className="cards" data-testid={testId}>
        <thead>
          <tr>
            {columns.map((column) => {
              const hidden = column === '' ? 'Actions' : typeof column === 'string' ? null : column.hidden;
              return (
                <th scope="col" key={hidden ?? (column as string)}>
                  {hidden === null ? (column as string) : <span className="visually-hidden">{hidden}</span>}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
