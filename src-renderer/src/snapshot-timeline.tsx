/**
 * A volume's snapshots on a line of time: each is a mark placed by when it was taken (hollow when
 * automatic; those taken close together stacked), the first and last times at the ends. A mark is a button: clicking it selects the
 * snapshot as the list's Browse does. One mark is in the tab order; the arrow keys, Home and End
 * move between marks, Enter or Space selects. Marks are placed in percent, so a narrow window
 * squeezes the line and never widens the page.
 */
import { useState, type KeyboardEvent } from 'react';
import type { SnapshotInfo } from '../../src-main/common/api.js';
import { formatTime } from './format-time.js';

/** Marks keep this far (percent) from the ends, so a mark at an end stays whole. */
const INSET_PERCENT = 2;
/**
 * Marks closer than this (percent: a mark's width in a 400 px window) are stacked in lanes above
 * the line, up to LANES, so snapshots taken close together stay apart.
 */
const CROWDED_PERCENT = 4;
const LANES = 3;

/** The lane of each mark (0 on the line): the lowest one free at its place. */
function lanesFor(places: number[]): number[] {
  const lastIn: number[] = [];
  return places.map((place) => {
    let lane = lastIn.findIndex((last) => place - last >= CROWDED_PERCENT);
    if (lane < 0) lane = lastIn.length < LANES ? lastIn.length : lastIn.indexOf(Math.min(...lastIn));
    lastIn[lane] = place;
    return lane;
  });
}

export function SnapshotTimeline({
  snapshots,
  selected,
  onSelect,
}: {
  /** Oldest first. */
  snapshots: SnapshotInfo[];
  selected: string | null;
  onSelect: (name: string) => void;
}) {
  const times = snapshots.map((s) => Date.parse(s.createdAt));
  const first = Math.min(...times);
  const span = Math.max(...times) - first;
  const place = (t: number) => (span === 0 ? 50 : INSET_PERCENT + ((100 - 2 * INSET_PERCENT) * (t - first)) / span);
  const places = times.map(place);
  const lanes = lanesFor(places);
  const selectedAt = snapshots.findIndex((s) => s.name === selected);
  const [focusAt, setFocusAt] = useState<number | null>(null);
  const tabAt = Math.min(focusAt ?? (selectedAt >= 0 ? selectedAt : snapshots.length - 1), snapshots.length - 1);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const to =
      e.key === 'ArrowLeft' || e.key === 'ArrowDown'
        ? tabAt - 1
        : e.key === 'ArrowRight' || e.key === 'ArrowUp'
          ? tabAt + 1
          : e.key === 'Home'
            ? 0
            : e.key === 'End'
              ? snapshots.length - 1
              : null;
    if (to === null) return;
    e.preventDefault();
    const at = Math.max(0, Math.min(snapshots.length - 1, to));
    setFocusAt(at);
    e.currentTarget.querySelectorAll<HTMLElement>('button')[at]?.focus();
  };

  if (snapshots.length === 0) return null;
  return (
    <div className="timeline" role="group" aria-label="Snapshots by time" onKeyDown={onKeyDown} data-testid="timeline">
      <div className="timeline-track" style={{ height: `${1.75 + 1.1 * Math.max(0, ...lanes)}rem` }}>
        {snapshots.map((s, i) => (
          <button
            key={s.name}
            className={s.automatic ? 'mark automatic' : 'mark'}
            style={{ left: `${places[i]}%`, bottom: `${-0.5 + 1.1 * lanes[i]!}rem` }}
            aria-label={`${s.name}, taken ${formatTime(s.createdAt)}${s.automatic ? ', automatic' : ''}`}
            title={`${s.name} (${formatTime(s.createdAt)})`}
            aria-pressed={s.name === selected}
            tabIndex={i === tabAt ? 0 : -1}
            onFocus={() => setFocusAt(i)}
            onClick={() => onSelect(s.name)}
          />
        ))}
      </div>
      <div className="timeline-ends">
        <span>{formatTime(snapshots[0]!.createdAt)}</span>
        {snapshots.length > 1 && <span>{formatTime(snapshots.at(-1)!.createdAt)}</span>}
      </div>
      {selected !== null && selectedAt >= 0 && (
        <p className="timeline-selected">
          {selected}, taken {formatTime(snapshots[selectedAt]!.createdAt)}
        </p>
      )}
    </div>
  );
}
