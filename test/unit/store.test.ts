import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FORMAT_VERSION, META_FORMAT_KEY, decodeManifestBlob, encodeU32 } from '../../src-main/engine/store/format.js';
import { Store, chunkKeyOf, putManifest } from '../../src-main/engine/store/store.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-store-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

test('a chunk key is the SHA-256 of the chunk', () => {
  const bytes = randomBytes(1000);
  assert.deepEqual(chunkKeyOf(bytes), createHash('sha256').update(bytes).digest());
});

test('a manifest is stored once under its own hash and read back', async () => {
  const store = new Store(await tempDir());
  const chunks = [{ key: randomBytes(32), sizeBytes: 70000 }];
  const key = await putManifest(store.dbs, chunks);
  assert.deepEqual(await putManifest(store.dbs, chunks), key);
  assert.equal([...store.dbs.manifests.getKeys({})].length, 1);
  assert.deepEqual(
    store.getManifest(key).map((c) => [Buffer.from(c.key).toString('hex'), c.sizeBytes]),
    chunks.map((c) => [c.key.toString('hex'), c.sizeBytes]),
  );
  await store.close();
});

test('a missing manifest is an error that names it', async () => {
  const store = new Store(await tempDir());
  assert.throws(() => store.getManifest(Buffer.alloc(32, 7)), /manifest 0707.* is missing from the store/);
  await store.close();
});

test('what is committed and synced is there when the store is opened again', async () => {
  const dir = await tempDir();
  const store = new Store(dir);
  const bytes = randomBytes(300_000);
  const key = chunkKeyOf(bytes);
  await store.dbs.chunks.put(key, bytes);
  await store.close();
  const again = new Store(dir);
  assert.deepEqual(again.readChunk(key), bytes);
  assert.ok(again.stats().chunkCount === 1 && again.stats().storeBytes > 300_000);
  await again.close();
});

for (const older of [1, 2, 3]) {
  test(`a format ${older} store opens as format ${FORMAT_VERSION}, its chunks and manifests read as before`, async () => {
    const dir = await tempDir();
    const store = new Store(dir);
    const bytes = randomBytes(300_000);
    // Format 1 kept every chunk in LMDB; format 2 added packs; both wrote manifests as lists;
    // format 3 added holes and device nodes, and format 4 snapshots (new databases, empty).
    await store.dbs.chunks.put(chunkKeyOf(bytes), bytes);
    const manifestKey = await putManifest(store.dbs, [{ key: chunkKeyOf(bytes), sizeBytes: bytes.length }]);
    await store.dbs.meta.put(META_FORMAT_KEY, encodeU32(older));
    await store.close();
    const again = new Store(dir);
    assert.equal(again.dbs.meta.get(META_FORMAT_KEY)?.readUInt32LE(0), FORMAT_VERSION);
    assert.deepEqual(again.readChunk(chunkKeyOf(bytes)), bytes);
    assert.equal(again.getManifest(manifestKey)[0]!.sizeBytes, bytes.length);
    await again.close();
  });
}

test('a store written by another format version is refused with what to do', async () => {
  const dir = await tempDir();
  const store = new Store(dir);
  await store.dbs.meta.put(META_FORMAT_KEY, encodeU32(99));
  await store.close();
  assert.throws(
    () => new Store(dir),
    new RegExp(`has format 99; this Bazil reads format ${FORMAT_VERSION}: upgrade Bazil`),
  );
});

test('a long manifest is a tree: an edit or an append rewrites a few nodes, and it reads back whole', async () => {
  const store = new Store(await tempDir());
  const chunks = Array.from({ length: 20_000 }, (_, i) => ({ key: randomBytes(32), sizeBytes: 65536 + i }));
  const manifestCount = () => [...store.dbs.manifests.getKeys({})].length;
  const hex = (refs: { key: Uint8Array; sizeBytes: number }[]) =>
    refs.map((c) => `${Buffer.from(c.key).toString('hex')}:${c.sizeBytes}`);

  const key = await putManifest(store.dbs, chunks);
  assert.deepEqual(hex(store.getManifest(key)), hex(chunks));
  const nodes = manifestCount();
  assert.ok(nodes > 3 && nodes < 60, `${nodes} nodes for 20,000 chunks`);

  // One chunk replaced in the middle (an edit): its node and the root are new. Every node of the
  // new version is named to the caller, those found stored too (a collection must hear of them).
  const edited = [...chunks];
  edited[10_000] = { key: randomBytes(32), sizeBytes: 1 };
  const named: string[] = [];
  const editedKey = await putManifest(store.dbs, edited, (key) => named.push(key.toString('hex')));
  const reachable = (key: Buffer): string[] => {
    const blob = decodeManifestBlob(store.dbs.manifests.get(key)!);
    const below = blob.kind === 'tree' ? blob.children.flatMap((child) => reachable(Buffer.from(child.key))) : [];
    return [key.toString('hex'), ...below];
  };
  assert.deepEqual(new Set(named), new Set(reachable(editedKey)), 'every node of the new version is named');
  assert.ok(reachable(editedKey).length > 3);
  assert.deepEqual(hex(store.getManifest(editedKey)), hex(edited));
  assert.ok(manifestCount() - nodes <= 3, `${manifestCount() - nodes} nodes written for one edit`);

  // Chunks appended: the last node or two and the root are new.
  const before = manifestCount();
  const appended = [...edited, ...Array.from({ length: 10 }, () => ({ key: randomBytes(32), sizeBytes: 7 }))];
  assert.deepEqual(hex(store.getManifest(await putManifest(store.dbs, appended))), hex(appended));
  assert.ok(manifestCount() - before <= 3, `${manifestCount() - before} nodes written for an append`);
  await store.close();
});
