/**
 * Which scheduled snapshots a keep policy keeps, as restic's `forget` and Time Machine decide: for
 * each kind of period (hour, day, week, month, year), the newest snapshot of each of the last N
 * periods that have one is kept; a snapshot kept by any rule stays. The newest snapshot is always
 * kept. Periods are in local time, as a person reads them.
 *
 * Pure code over times: the scheduler (snapshot-schedule.ts) applies it to scheduled snapshots
 * only; manual ones and those taken before a restore are never pruned.
 */
import type { KeepPolicy } from '../../common/api.js';

const RULES: { field: keyof KeepPolicy; period: (t: Date) => string }[] = [
  { field: 'hourly', period: (t) => `${t.getFullYear()}-${t.getMonth()}-${t.getDate()}-${t.getHours()}` },
  { field: 'daily', period: (t) => `${t.getFullYear()}-${t.getMonth()}-${t.getDate()}` },
  {
    field: 'weekly',
    // The Monday that starts the week.
    period: (t) => {
      const monday = new Date(t.getFullYear(), t.getMonth(), t.getDate() - ((t.getDay() + 6) % 7));
      return `${monday.getFullYear()}-${monday.getMonth()}-${monday.getDate()}`;
    },
  },
  { field: 'monthly', period: (t) => `${t.getFullYear()}-${t.getMonth()}` },
  { field: 'yearly', period: (t) => `${t.getFullYear()}` },
];

/** The names of the snapshots to delete, given each one's time in ms. */
export function snapshotsToPrune(snapshots: readonly { name: string; timeMs: number }[], policy: KeepPolicy): string[] {
  const newestFirst = [...snapshots].sort((a, b) => b.timeMs - a.timeMs);
  const kept = new Set<string>(newestFirst.slice(0, 1).map((s) => s.name));
  for (const { field, period } of RULES) {
    const count = policy[field] ?? 0;
    const seen = new Set<string>();
    for (const snapshot of newestFirst) {
      if (seen.size >= count) break;
      const key = period(new Date(snapshot.timeMs));
      if (seen.has(key)) continue;
      seen.add(key);
      kept.add(snapshot.name);
    }
  }
  return newestFirst.filter((s) => !kept.has(s.name)).map((s) => s.name);
}
