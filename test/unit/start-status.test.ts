import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFailureReason } from '../../src-main/client/start-status.js';

test("a crash's reason is its error line, not Node's version line that ends it", () => {
  const crash = [
    'bazil: engine running for /data (pid 12)',
    'node:internal/fs/utils:356',
    '    throw err;',
    '    ^',
    '',
    'Error: ENOSPC: no space left on device, write',
    '    at writeSync (node:fs:939:3)',
    '    at Engine.start (file:///app/engine.js:52:27) {',
    "  code: 'ENOSPC'",
    '}',
    '',
    'Node.js v20.20.2',
  ].join('\n');
  assert.equal(startFailureReason(crash), 'Error: ENOSPC: no space left on device, write');
  const rejection = [
    'node:internal/process/promises:391',
    '    triggerUncaughtException(err, true);',
    '    ^',
    '',
    '[TypeError: x is not a function]',
    '',
    'Node.js v20.20.2',
  ];
  assert.equal(startFailureReason(rejection.join('\n')), 'TypeError: x is not a function');
});

test("the engine's own last line is its reason; nothing meaningful gives none", () => {
  const refused =
    'bazil: data directory "/d" is readable by other users\nbazil: cannot write "/d/engine.pid" (ENOSPC)\n';
  assert.equal(startFailureReason(refused), 'cannot write "/d/engine.pid" (ENOSPC)');
  assert.equal(startFailureReason(''), null);
  assert.equal(startFailureReason('Node.js v20.20.2\n'), null);
});
