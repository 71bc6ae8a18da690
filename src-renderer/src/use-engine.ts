/**
 * The engine's state as the window shows it, kept from the engine's events (not by polling):
 * volumes, dirty memory with the last minutes of its total, long work, snapshot changes, and the
 * errors to show.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { DirtyState, EngineEvent, VolumeInfo } from '../../src-main/common/api.js';
import type { EngineBridge } from './engine-bridge.js';

/** How much of the dirty total the graph shows. */
export const DIRTY_HISTORY_MS = 5 * 60_000;

export interface DirtySample {
  atMs: number;
  totalBytes: number;
}

export interface Job {
  jobId: number;
  method: string;
  state: 'running' | 'done' | 'failed';
  progress: Extract<EngineEvent, { type: 'job' }>['progress'];
  message?: string;
}

export interface ShownError {
  id: number;
  message: string;
}

export interface EngineState {
  volumes: VolumeInfo[] | null;
  storeBytes: number | null;
  dirty: DirtyState | null;
  dirtyHistory: DirtySample[];
  jobs: Job[];
  errors: ShownError[];
  /** Goes up whenever a snapshot is taken, deleted or restored: views that list snapshots reload. */
  snapshotsVersion: number;
  /** Per mounted volume, goes up whenever its files change: a view listing them reloads. */
  filesVersions: ReadonlyMap<string, number>;
  /** Shows an error (a failed call's words). */
  report(error: unknown): void;
  dismiss(id: number): void;
}

const IGNORE = () => undefined;

/** `onEvent` hears every event too (it must not change between renders). */
export function useEngine(bridge: EngineBridge, onEvent: (event: EngineEvent) => void = IGNORE): EngineState {
  const [volumes, setVolumes] = useState<VolumeInfo[] | null>(null);
  const [storeBytes, setStoreBytes] = useState<number | null>(null);
  const [dirty, setDirty] = useState<DirtyState | null>(null);
  const [dirtyHistory, setDirtyHistory] = useState<DirtySample[]>([]);
  const [jobs, setJobs] = useState<Job[]>([]);
  const [errors, setErrors] = useState<ShownError[]>([]);
  const [snapshotsVersion, setSnapshotsVersion] = useState(0);
  /** Goes up as long work ends (a collection, asked for or the engine's own, changes the store's size). */
  const [jobsEnded, setJobsEnded] = useState(0);
  const [filesVersions, setFilesVersions] = useState<ReadonlyMap<string, number>>(new Map());
  const nextErrorId = useRef(1);
  const lastTotal = useRef<number | null>(null);

  const report = useCallback((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    setErrors((shown) => [...shown.slice(-4), { id: nextErrorId.current++, message }]);
  }, []);
  const dismiss = useCallback((id: number) => setErrors((shown) => shown.filter((e) => e.id !== id)), []);

  useEffect(() => {
    const sample = (totalBytes: number) =>
      setDirtyHistory((history) => {
        const now = Date.now();
        return [...history.filter((s) => s.atMs > now - DIRTY_HISTORY_MS), { atMs: now, totalBytes }];
      });
    const stop = bridge.onEvent((event) => {
      onEvent(event);
      switch (event.type) {
        case 'volumes':
          setVolumes(event.volumes);
          break;
        case 'dirty':
          setDirty(event.dirty);
          lastTotal.current = event.dirty.totalBytes;
          sample(event.dirty.totalBytes);
          break;
        case 'snapshot':
          setSnapshotsVersion((v) => v + 1);
          break;
        case 'files':
          setFilesVersions((versions) => new Map(versions).set(event.volume, (versions.get(event.volume) ?? 0) + 1));
          break;
        case 'job':
          setJobs((all) => [...all.filter((j) => j.jobId !== event.jobId), event].slice(-20));
          if (event.state !== 'running') setJobsEnded((n) => n + 1);
          break;
        case 'error':
          report(new Error(event.message));
          break;
      }
    });
    // The engine sends the dirty state when it changes: the graph goes on at the last value.
    const tick = setInterval(() => lastTotal.current !== null && sample(lastTotal.current), 1000);
    bridge.call('volumeList', {}).then(setVolumes, report);
    bridge.call('stats', {}).then((stats) => {
      setStoreBytes(stats.storeBytes);
      setDirty((current) => current ?? stats.dirty);
      lastTotal.current ??= stats.dirty.totalBytes;
    }, report);
    return () => {
      stop();
      clearInterval(tick);
    };
  }, [bridge, report, onEvent]);

  // The store's size changes with what is stored: read again when the volumes or snapshots change,
  // and after long work (a collection).
  useEffect(() => {
    if (volumes === null) return;
    bridge.call('stats', {}).then((stats) => setStoreBytes(stats.storeBytes), report);
  }, [bridge, report, volumes, snapshotsVersion, dirty?.totalBytes, jobsEnded]);

  return { volumes, storeBytes, dirty, dirtyHistory, jobs, errors, snapshotsVersion, filesVersions, report, dismiss };
}
