/**
 * take: requests queued past the room of the first take (64, load-addon.ts) are all taken in one
 * turn, each with its own fields, and all answered. The programs' requests pile up in the kernel
 * while the thread that serves the mount is kept busy; when it is free again, one read of
 * /dev/fuse brings them all.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { needsRoot, q } from '../../helpers/fs-tools.js';
import { shWithin } from '../../helpers/fuse-connections.js';
import { mountMemoryFs } from '../../helpers/memory-mount.js';

const PROGRAMS = 150;

test(
  'requests queued past the first take’s room are all taken in one turn and answered',
  { timeout: 60_000, ...needsRoot('read the FUSE connection’s count of waiting requests') },
  async (t) => {
    const m = await mountMemoryFs(t);
    // A folder each (a lookup holds its folder's lock, so lookups in one folder go one at a time),
    // in the kernel's cache with their attributes: the programs below send only their lookups.
    await m.ok(`mkdir $(seq -f d%g 1 ${PROGRAMS}) && stat d* > /dev/null`);
    const lookupsBefore = m.fs.seen.get('lookup') ?? 0;
    // Started outside the mount (m.run would cd into it first, and wait for an answer).
    const done = shWithin(
      `for i in $(seq 1 ${PROGRAMS}); do stat ${q(m.mnt)}/d$i/missing > /dev/null 2>&1 & done; wait`,
      m.root,
      30_000,
      () => m.abort(),
    );
    // Serve nothing until every program waits on its lookup (this is the serving thread).
    const waiting = join('/sys/fs/fuse/connections', m.connection, 'waiting');
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const until = Date.now() + 20_000;
    let queued = 0;
    while ((queued = Number(readFileSync(waiting, 'utf8'))) < PROGRAMS && Date.now() < until) {
      Atomics.wait(pause, 0, 0, 10);
    }
    assert.ok(queued >= PROGRAMS, `every program's lookup waits in the kernel (${queued} of ${PROGRAMS})`);
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(m.fs.mostTaken >= PROGRAMS, `one take returned all ${PROGRAMS} (at most ${m.fs.mostTaken})`);
    assert.equal((m.fs.seen.get('lookup') ?? 0) - lookupsBefore, PROGRAMS);
    assert.deepEqual(m.fs.replyErrors, []);
  },
);
