/**
 * Search by name across every snapshot of a volume (`find -name` over all of them, without
 * mounting anything): newest snapshot first, each match with its path. A directory that several
 * snapshots share (the same tree key) is searched once: what matched under it is remembered by
 * key, so the cost follows the distinct directories, not the number of snapshots.
 *
 * A pattern without "/" matches names; one with "/" matches whole paths from the root.
 */
import type { FoundEntry } from '../../common/api.js';
import { globToRegExp } from '../../common/glob.js';
import { formatNs } from '../../common/time.js';
import { decodeInode } from '../store/format.js';
import type { Store } from '../store/store.js';
import { entryType, listSnapshots, readTree } from './browse-snapshot.js';

type Match = Omit<FoundEntry, 'snapshot'>;

export function findInSnapshots(store: Store, volumeId: number, pattern: string): FoundEntry[] {
  const re = globToRegExp(pattern);
  const byPath = pattern.includes('/');
  /** Tree key to what matched under it, with paths relative to it ("/a/b"). */
  const memo = new Map<string, Match[]>();
  const search = (treeKey: Uint8Array): Match[] => {
    const hex = Buffer.from(treeKey).toString('hex');
    const known = memo.get(hex);
    if (known) return known;
    const found: Match[] = [];
    for (const entry of readTree(store, treeKey)) {
      const path = `/${entry.name}`;
      // A path pattern is checked once the whole path is known (below, with the prefix).
      if (byPath || re.test(entry.name)) {
        const inode = decodeInode(entry.ino, entry.record);
        found.push({
          path,
          type: entryType(inode.mode),
          sizeBytes: entry.treeKey ? 0 : inode.sizeBytes,
          mtime: formatNs(inode.mtimeNs),
        });
      }
      if (entry.treeKey) for (const below of search(entry.treeKey)) found.push({ ...below, path: path + below.path });
    }
    memo.set(hex, found);
    return found;
  };
  const results: FoundEntry[] = [];
  for (const snapshot of listSnapshots(store, volumeId).reverse()) {
    for (const match of search(snapshot.rootTreeKey)) {
      if (!byPath || re.test(match.path)) results.push({ snapshot: snapshot.name, ...match });
    }
  }
  return results;
}
