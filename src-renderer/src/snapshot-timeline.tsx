/**
 * A volume's snapshots on a line of time: each is a mark placed by when it was taken (hollow when
 * automatic; those taken close together stacked), the first and last times at the ends. A mark is
 * a button: clicking it selects the snapshot as the list's Browse does. Where more were taken
 * close together than the stacked lanes hold (a schedule's hourly snapshots on a year's line), one
 * round button with their count stands for them: clicking it shows only their span of time on the
 * line, and "Whole timeline" goes back. One button is in the tab order; the arrow keys, Home and
 * End move between them, Enter or Space selects. Places are in percent, so a narrow window
 * squeezes the line and never widens the page.
 */
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { SnapshotInfo } from '../../src-main/common/api.js';
import { formatTime } from './format-time.js';

/** Marks keep this far (percent) from the ends, so a mark at an end stays whole. */
const INSET_PERCENT = 2;
/**
 * Marks closer than this (percent: a mark's width in a 400 px window) are stacked in lanes above
 * the line, up to LANES; more than that close together become a group.
 */
const CROWDED_PERCENT = 4;
const LANES = 3;

/** A mark (first === last) or a group of snapshots, by their indexes among those shown. */
interface Placed {
  first: number;
  last: number;
  /** Percent along the line. */
  place: number;
  /** 0 on the line, higher above it. */
  lane: number;
}

/**
 * Lays marks out in lanes: each in the lowest lane free at its place. Where none is free, it and
 * the marks too close before it become one group, and the layout starts over.
 */
function layOut(places: number[]): Placed[] {
  const items: Placed[] = places.map((place, i) => ({ first: i, last: i, place, lane: 0 }));
  for (;;) {
    const lastIn: number[] = [];
    const crowded = items.findIndex((item) => {
      let lane = lastIn.findIndex((last) => item.place - last >= CROWDED_PERCENT);
      if (lane < 0) {
        if (lastIn.length >= LANES) return true;
        lane = lastIn.length;
      }
      item.lane = lane;
      lastIn[lane] = item.place;
      return false;
    });
    if (crowded < 0) return items;
    const at = items[crowded]!.place;
    let start = crowded;
    while (start > 0 && at - items[start - 1]!.place < CROWDED_PERCENT) start--;
    const members = items.slice(start, crowded + 1);
    const group = {
      first: members[0]!.first,
      last: members.at(-1)!.last,
      place: (members[0]!.place + at) / 2,
      lane: 0,
    };
    items.splice(start, members.length, group);
  }
}

export function SnapshotTimeline({
  snapshots: all,
  selected,
  onSelect,
}: {
  /** Oldest first. */
  snapshots: SnapshotInfo[];
  selected: string | null;
  onSelect: (name: string) => void;
}) {
  /** The span of time shown (a group opened), or null: all of it. */
  const [zoom, setZoom] = useState<{ fromMs: number; toMs: number } | null>(null);
  const [focusAt, setFocusAt] = useState<number | null>(null);
  const track = useRef<HTMLDivElement>(null);
  /** A group was opened with the keyboard: the first button of its span takes the focus. */
  const focusFirst = useRef(false);
  const inZoom = (s: SnapshotInfo) => {
    const t = Date.parse(s.createdAt);
    return zoom === null || (t >= zoom.fromMs && t <= zoom.toMs);
  };
  const shown = all.filter(inZoom);
  const snapshots = shown.length > 0 ? shown : all;

  useEffect(() => {
    if (!focusFirst.current) return;
    focusFirst.current = false;
    track.current?.querySelector<HTMLElement>('button')?.focus();
  }, [zoom]);

  if (snapshots.length === 0) return null;
  const times = snapshots.map((s) => Date.parse(s.createdAt));
  const first = Math.min(...times);
  const span = Math.max(...times) - first;
  const width = 100 - 2 * INSET_PERCENT;
  // Taken in the same second: side by side, in the order they were taken.
  const places = times.map((t, i) =>
    span > 0
      ? INSET_PERCENT + (width * (t - first)) / span
      : snapshots.length === 1
        ? 50
        : INSET_PERCENT + (width * i) / (snapshots.length - 1),
  );
  const items = layOut(places);
  const selectedAt = snapshots.findIndex((s) => s.name === selected);
  const selectedItem = items.findIndex((item) => item.first <= selectedAt && selectedAt <= item.last);
  const tabAt = Math.min(focusAt ?? (selectedItem >= 0 ? selectedItem : items.length - 1), items.length - 1);
  const zoomed = zoom !== null && shown.length > 0;

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const to =
      e.key === 'ArrowLeft' || e.key === 'ArrowDown'
        ? tabAt - 1
        : e.key === 'ArrowRight' || e.key === 'ArrowUp'
          ? tabAt + 1
          : e.key === 'Home'
            ? 0
            : e.key === 'End'
              ? items.length - 1
              : null;
    if (to === null) return;
    e.preventDefault();
    const at = Math.max(0, Math.min(items.length - 1, to));
    setFocusAt(at);
    track.current?.querySelectorAll<HTMLElement>('button')[at]?.focus();
  };
  const open = (item: Placed, byKeyboard: boolean) => {
    focusFirst.current = byKeyboard;
    setFocusAt(0);
    setZoom({ fromMs: times[item.first]!, toMs: times[item.last]! });
  };

  return (
    <div className="timeline" role="group" aria-label="Snapshots by time" data-testid="timeline">
      <div
        ref={track}
        className="timeline-track"
        style={{ height: `${1.75 + 1.1 * Math.max(0, ...items.map((item) => item.lane))}rem` }}
        onKeyDown={onKeyDown}
      >
        {items.map((item, i) => {
          const position = { left: `${item.place}%`, bottom: `${-0.5 + 1.1 * item.lane}rem` };
          const tabIndex = i === tabAt ? 0 : -1;
          if (item.first !== item.last) {
            const count = item.last - item.first + 1;
            const from = formatTime(snapshots[item.first]!.createdAt);
            const to = formatTime(snapshots[item.last]!.createdAt);
            return (
              <button
                key={`group-${snapshots[item.first]!.name}`}
                className="mark group"
                style={position}
                aria-label={`${count} snapshots taken ${from} to ${to}: show them`}
                title={`${count} snapshots, ${from} to ${to}`}
                tabIndex={tabIndex}
                onFocus={() => setFocusAt(i)}
                onClick={(e) => open(item, e.detail === 0)}
              >
                {count}
              </button>
            );
          }
          const s = snapshots[item.first]!;
          return (
            <button
              key={s.name}
              className={s.automatic ? 'mark automatic' : 'mark'}
              style={position}
              aria-label={`${s.name}, taken ${formatTime(s.createdAt)}${s.automatic ? ', automatic' : ''}`}
              title={`${s.name} (${formatTime(s.createdAt)})`}
              aria-pressed={s.name === selected}
              tabIndex={tabIndex}
              onFocus={() => setFocusAt(i)}
              onClick={() => onSelect(s.name)}
            />
          );
        })}
      </div>
      <div className="timeline-ends">
        <span>{formatTime(snapshots[0]!.createdAt)}</span>
        {zoomed && (
          <button
            className="link"
            onClick={() => {
              setFocusAt(null);
              setZoom(null);
            }}
          >
            Whole timeline
          </button>
        )}
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
