import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineReader, LineTooLongError } from '../../src-main/client/line-reader.js';

test('lines are split wherever the pieces end, a character cut between pieces included', () => {
  const reader = new LineReader();
  const bytes = Buffer.from('{"name":"été"}\n\n{"b":2}\npartial');
  const seen: string[] = [];
  // One byte at a time: every cut, including inside the two-byte "é".
  for (let i = 0; i < bytes.length; i++) seen.push(...reader.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(seen, ['{"name":"été"}', '', '{"b":2}']);
  assert.deepEqual(reader.push(Buffer.from('\n')), ['partial']);
});

test('a line past the cap is refused as soon as it passes it, newline or not', () => {
  const reader = new LineReader(10);
  assert.deepEqual(reader.push(Buffer.from('0123456789\n')), ['0123456789']);
  assert.deepEqual(reader.push(Buffer.from('01234')), []);
  assert.throws(() => reader.push(Buffer.from('567890')), LineTooLongError);
});
