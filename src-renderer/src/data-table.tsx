/**
 * A table of the window: its own horizontal scroll, and one card per row in a narrow window
 * (app.css). A column named "" is for the row's buttons (its heading is for screen readers only).
 */
import type { ReactNode } from 'react';

export function DataTable({ columns, testId, children }: { columns: string[]; testId?: string; children: ReactNode }) {
  return (
    <div className="scroll">
      <table className="cards" data-testid={testId}>
        <thead>
          <tr>
            {columns.map((column) => (
              <th scope="col" key={column}>
                {column === '' ? <span className="visually-hidden">Actions</span> : column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
