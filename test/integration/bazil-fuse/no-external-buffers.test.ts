/**
 * Electron's runtime refuses N-API external buffers in every process kind, so the addon must
 * never create one: its dynamic symbol table names neither function. (It does name
 * napi_create_threadsafe_function, which shows the check reads the right table.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADDON_PATH } from '../../../src-main/engine/fuse/load-addon.js';
import { ok } from '../../helpers/engine-harness.js';
import { q } from '../../helpers/fs-tools.js';

test('the built addon does not reference napi_create_external_buffer or _arraybuffer', async () => {
  const symbols = (await ok(`nm -D --undefined-only ${q(ADDON_PATH)}`))
    .split('\n')
    .map((l) => l.trim().split(/\s+/).at(-1));
  assert.ok(symbols.includes('napi_create_threadsafe_function'), 'nm lists the N-API functions the addon uses');
  assert.deepEqual(
    symbols.filter((s) => /^napi_create_external_(array)?buffer$/.test(s ?? '')),
    [],
  );
  const dynamic = await ok(`readelf --dyn-syms --wide ${q(ADDON_PATH)}`);
  assert.doesNotMatch(dynamic, /napi_create_external_(array)?buffer/);
});
