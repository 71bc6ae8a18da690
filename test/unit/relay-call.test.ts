import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BazilError } from '../../src-main/common/errors.js';
import { relayCall, type ApiRelay } from '../../src-main/client/relay-call.js';

/** A relay that records what reached it, and answers as told. */
function relay(answer: (method: string, args: unknown) => unknown): ApiRelay & { reached: unknown[] } {
  const reached: unknown[] = [];
  return {
    reached,
    call: async (method: string, args: unknown) => {
      reached.push([method, args]);
      return answer(method, args);
    },
  } as ApiRelay & { reached: unknown[] };
}

test('a call the API declares reaches the engine, and its result comes back', async () => {
  const r = relay(() => [{ name: 'photos' }]);
  assert.deepEqual(await relayCall(r, 'volumeList', {}), { result: [{ name: 'photos' }] });
  assert.deepEqual(await relayCall(r, 'unmount', { name: 'photos' }), { result: [{ name: 'photos' }] });
  assert.deepEqual(r.reached, [
    ['volumeList', {}],
    ['unmount', { name: 'photos' }],
  ]);
});

test('a call the API does not declare, or with bad arguments, never reaches the engine', async () => {
  const r = relay(() => assert.fail('reached the engine'));
  for (const [method, args, words] of [
    ['shutdownEverything', {}, /unknown method/],
    ['mount', { name: 'photos' }, /"mountpoint" is missing/],
    ['mount', { name: 'photos', mountpoint: '/m', extra: true }, /unknown argument "extra"/],
    [42, {}, /needs a "method" string/],
    ['volumeList', 'all', /arguments must be an object/],
  ] as const) {
    const answer = await relayCall(r, method, args);
    assert.ok('error' in answer && answer.error.code === 'EINVAL', JSON.stringify(answer));
    assert.match(answer.error.message, words);
  }
  assert.deepEqual(r.reached, []);
});

test('the engine’s refusals come back as answers; a bug is thrown', async () => {
  const refusing = relay(() => {
    throw new BazilError('EEXIST', 'volume "photos" already exists');
  });
  assert.deepEqual(await relayCall(refusing, 'volumeCreate', { name: 'photos' }), {
    error: { code: 'EEXIST', message: 'volume "photos" already exists' },
  });
  const broken = relay(() => {
    throw new TypeError('x is undefined');
  });
  await assert.rejects(relayCall(broken, 'volumeList', {}), TypeError);
});
