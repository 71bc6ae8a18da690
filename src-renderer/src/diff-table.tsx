/** What changed between two trees of a volume (snapshotDiff), one row per path. */
import type { DiffChange } from '../../src-main/common/api.js';
import { DataTable } from './data-table.js';

export function DiffTable({ changes, testId = 'diff' }: { changes: DiffChange[]; testId?: string }) {
  if (changes.length === 0) return <p className="muted">Nothing changed.</p>;
  return (
    <DataTable columns={['Path', 'Change', 'What']} testId={testId}>
      {changes.map((c) => (
        <tr key={c.path}>
          <td>{c.path}</td>
          <td data-label="Change">
            {c.change === 'modified' ? (c.content ? 'content changed' : 'attributes changed') : c.change}
            {c.was && ` (was a ${c.was})`}
          </td>
          <td data-label="What">{c.type}</td>
        </tr>
      ))}
    </DataTable>
  );
}
