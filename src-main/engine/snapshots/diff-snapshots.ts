/**
 * What changed between two trees of a volume (two snapshots, or a snapshot and the live tree):
 * paths added, removed, modified (content, or attributes only) and changed in type. Subtrees with
 * the same tree key are equal and skipped unread, so the cost follows the difference. An added or
 * removed directory is one change (what is in it is not listed).
 */
import type { DiffChange, SnapshotEntry } from '../../common/api.js';
import { decodeInode, decodeInodeMode, type TreeEntry } from '../store/format.js';
import type { Store } from '../store/store.js';
import { entryType, readTree } from './browse-snapshot.js';

const sameKey = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const sameBytes = sameKey;

/** Content: a file's manifest and size, a symlink's target, a device's number. */
function sameContent(a: TreeEntry, b: TreeEntry): boolean {
  const x = decodeInode(a.ino, a.record);
  const y = decodeInode(b.ino, b.record);
  const keys = x.manifestKey && y.manifestKey ? sameKey(x.manifestKey, y.manifestKey) : x.manifestKey === y.manifestKey;
  return keys && x.sizeBytes === y.sizeBytes && x.symlinkTarget === y.symlinkTarget && x.rdev === y.rdev;
}

/** `under`: the path of the directories compared ("/" for the roots); changes' paths are from the volume's root. */
export function diffTrees(store: Store, fromKey: Uint8Array, toKey: Uint8Array, under = '/'): DiffChange[] {
  const changes: DiffChange[] = [];
  const walk = (from: Uint8Array, to: Uint8Array, path: string): void => {
    if (sameKey(from, to)) return;
    const a = new Map(readTree(store, from).map((e) => [e.name, e]));
    const b = new Map(readTree(store, to).map((e) => [e.name, e]));
    const names = [...new Set([...a.keys(), ...b.keys()])].sort();
    for (const name of names) {
      const ea = a.get(name);
      const eb = b.get(name);
      const at = `${path}/${name}`;
      const type = (e: TreeEntry): SnapshotEntry['type'] => entryType(decodeInodeMode(e.record));
      if (!eb) changes.push({ path: at, change: 'removed', type: type(ea!) });
      else if (!ea) changes.push({ path: at, change: 'added', type: type(eb) });
      else if (type(ea) !== type(eb)) changes.push({ path: at, change: 'type-changed', type: type(eb), was: type(ea) });
      else if (ea.treeKey && eb.treeKey) walk(ea.treeKey, eb.treeKey, at);
      else if (!sameBytes(ea.record, eb.record)) {
        changes.push({ path: at, change: 'modified', type: type(eb), content: !sameContent(ea, eb) });
      }
    }
  };
  walk(fromKey, toKey, under === '/' ? '' : under);
  return changes;
}
