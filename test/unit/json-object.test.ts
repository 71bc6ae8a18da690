import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseJsonObject } from '../../src-main/common/json-object.js';

test('a JSON object is read; anything else is EINVAL in words naming what it should be', () => {
  assert.deepEqual(parseJsonObject('{"args": {"a": 1}}', 'the body', '{"args": {...}}'), { args: { a: 1 } });
  for (const [text, words] of [
    ['{"args":', /^the body is not JSON: /],
    ['[1, 2]', /^the body must be a JSON object: \{"args": \{\.\.\.\}\}$/],
    ['null', /must be a JSON object/],
    ['"text"', /must be a JSON object/],
  ] as const) {
    assert.throws(
      () => parseJsonObject(text, 'the body', '{"args": {...}}'),
      (error: Error & { code?: string }) => error.code === 'EINVAL' && words.test(error.message),
      text,
    );
  }
});
