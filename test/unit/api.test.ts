import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkVolumeName, isMethodName, validateArgs } from '../../src-main/common/api.js';
import { BazilError } from '../../src-main/common/errors.js';

test('arguments are checked against the declaration, naming the bad field', () => {
  assert.deepEqual(validateArgs('mount', { name: 'a', mountpoint: '/m' }), { name: 'a', mountpoint: '/m' });
  assert.throws(() => validateArgs('mount', { name: 'a' }), /mount: "mountpoint" must be a string/);
  assert.throws(() => validateArgs('volumeList', { extra: 1 }), /volumeList: unknown argument "extra"/);
  assert.throws(() => validateArgs('stats', []), /stats: arguments must be an object/);
});

test('optional arguments may be left out, but not given the wrong type', () => {
  assert.deepEqual(validateArgs('stop', {}), {});
  assert.deepEqual(validateArgs('stop', { force: true }), { force: true });
  assert.throws(() => validateArgs('stop', { force: 'yes' }), /stop: "force" must be a boolean/);
});

test('only declared methods are methods', () => {
  assert.equal(isMethodName('volumeCreate'), true);
  assert.equal(isMethodName('toString'), false);
  assert.equal(isMethodName('constructor'), false);
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
