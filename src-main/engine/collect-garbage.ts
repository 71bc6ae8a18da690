/**
 * A full garbage collection, on demand. Page slabs the pool has dropped are SharedArrayBuffers,
 * freed only when every thread that saw them has collected: an idle engine allocates nothing, so
 * without this its memory would stay at the dirty cap long after the writes stopped.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null = null;

export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
