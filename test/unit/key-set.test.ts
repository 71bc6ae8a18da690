import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { KeySet, packKeys, unpackKeys } from '../../src-main/engine/store/key-set.js';

test('a key set holds each key once, through growth, and knows every key it was given', () => {
  const keys = Array.from({ length: 20_000 }, () => randomBytes(32));
  const set = new KeySet(16);
  for (const key of keys) assert.equal(set.add(key), true);
  for (const key of keys) assert.equal(set.add(Buffer.from(key)), false, 'a copy of a key is the same key');
  assert.equal(set.size, keys.length);
  for (const key of keys) assert.equal(set.has(key), true);
  for (let i = 0; i < 1000; i++) assert.equal(set.has(randomBytes(32)), false);
  // Keys that differ only past their first four bytes (the table's hash) are told apart.
  const a = Buffer.alloc(32, 1);
  const b = Buffer.from(a);
  b[31] = 2;
  const small = new KeySet();
  small.add(a);
  assert.equal(small.has(b), false);
  assert.equal(small.add(b), true);
});

test('keys packed in one buffer come back as they were', () => {
  const keys = Array.from({ length: 5 }, () => randomBytes(32));
  assert.deepEqual(
    [...unpackKeys(packKeys(keys))].map((k) => Buffer.from(k).toString('hex')),
    keys.map((k) => k.toString('hex')),
  );
  assert.throws(() => packKeys([randomBytes(31)]), /a key of 31 bytes/);
});
