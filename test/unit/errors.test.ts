import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quote } from '../../src-main/common/errors.js';

test('a quoted name or path is one line, whatever control characters it holds', () => {
  assert.equal(quote('photos'), '"photos"');
  assert.equal(quote('/home/me/My "Docs"'), '"/home/me/My \\"Docs\\""');
  for (const c of ['\n', '\r', '\t', '\u0000', '\u001b', '\u007f', '\u0085', '\u2028', '\u2029']) {
    const quoted = quote(`a${c}b`);
    assert.ok(!quoted.includes(c), `${JSON.stringify(c)} is escaped: ${quoted}`);
    assert.equal(quoted.split(/\r\n|[\n\r\u0085\u2028\u2029]/).length, 1);
  }
  assert.equal(quote('two\nlines'), '"two\\nlines"');
});
