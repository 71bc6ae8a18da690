import assert from 'node:assert/strict';
import { test } from 'node:test';
import { API, EngineEvent, checkVolumeName, isMethodName, parseCall } from '../../src-main/common/api.js';
import { BazilError } from '../../src-main/common/errors.js';

const refused = (method: unknown, args: unknown) => () => parseCall(method, args);

test('a call is checked against the declaration, and the error names the bad field', () => {
  assert.deepEqual(parseCall('mount', { name: 'a', mountpoint: '/m' }), {
    method: 'mount',
    args: { name: 'a', mountpoint: '/m' },
  });
  assert.throws(refused('mount', { name: 'a' }), /^Error: mount: "mountpoint" is missing$/);
  assert.throws(refused('mount', { name: 'a', mountpoint: 7 }), /mount: "mountpoint" must be a string/);
  assert.throws(refused('volumeList', { extra: 1 }), /volumeList: unknown argument "extra"/);
  assert.throws(refused('stats', []), /stats: arguments must be an object/);
  assert.throws(
    refused('snapshotRead', { volume: 'v', snapshot: 's', path: '/f', offset: 1.5, length: 1 }),
    /"offset" must be a whole number/,
  );
  assert.throws(
    refused('snapshotRead', { volume: 'v', snapshot: 's', path: '/f', offset: -1, length: 1 }),
    /"offset" must be a whole number, 0 or more/,
  );
  assert.throws(refused('nope', {}), /unknown method "nope"/);
  assert.throws(refused(undefined, {}), /needs a "method" string/);
  for (const bad of [refused('mount', {}), refused('nope', {})]) {
    assert.throws(bad, (e: unknown) => e instanceof BazilError && e.code === 'EINVAL');
  }
});

test('optional arguments may be left out, but not given the wrong type', () => {
  assert.deepEqual(parseCall('stop', {}).args, {});
  assert.deepEqual(parseCall('stop', { force: true }).args, { force: true });
  assert.throws(refused('stop', { force: 'yes' }), /stop: "force" must be a boolean/);
});

test('only declared methods are methods', () => {
  assert.equal(isMethodName('volumeCreate'), true);
  assert.equal(isMethodName('toString'), false);
  assert.equal(isMethodName('constructor'), false);
  assert.equal(isMethodName('__proto__'), false);
});

test('long work is marked as reporting progress, and nothing else is', () => {
  const long = Object.entries(API)
    .filter(([, m]) => 'progress' in m)
    .map(([name]) => name)
    .sort();
  assert.deepEqual(long, ['gc', 'snapshotExport', 'verify']);
});

test('results and events are checked by the same declaration a client may use', () => {
  const volume = { name: 'v', createdAt: '2026-12-01 03:00:00', mountpoint: null, showSnap: false };
  assert.deepEqual(API.volumeList.result.parse([volume]), [volume]);
  assert.equal(API.volumeList.result.safeParse([{ ...volume, mountpoint: 3 }]).success, false);
  const dirty = { type: 'dirty', dirty: { capBytes: 10, totalBytes: 0, volumes: [], files: [] } };
  assert.deepEqual(EngineEvent.parse(dirty), dirty);
  assert.equal(EngineEvent.safeParse({ type: 'dirty' }).success, false);
  assert.equal(EngineEvent.safeParse({ type: 'unknown' }).success, false);
});

test('volume names are what a person would type, safe in a path', () => {
  for (const good of ['photos', 'Work-2026', 'a', 'x.y_z']) assert.doesNotThrow(() => checkVolumeName(good));
  for (const bad of ['', '.hidden', 'a/b', '..', 'x'.repeat(65), 'sp ace', 'é']) {
    assert.throws(
      () => checkVolumeName(bad),
      (e: unknown) => e instanceof BazilError && e.code === 'EINVAL',
    );
  }
});
