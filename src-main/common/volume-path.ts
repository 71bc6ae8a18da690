/**
 * Paths inside a volume, as the API takes them: from the volume's root ("" or "/" is the root),
 * names separated by "/", never "." or "..". The same rule for a snapshot's tree and the live one.
 *
 * Pure code: runs anywhere.
 */
import { BazilError, quote } from './errors.js';

/** The names along `path` from the root (none for the root); EINVAL for "." or "..". */
export function volumePathNames(path: string): string[] {
  const names = path.split('/').filter((name) => name !== '');
  if (names.some((name) => name === '.' || name === '..')) {
    throw new BazilError('EINVAL', `path ${quote(path)}: give it from the volume's root, without "." or ".."`);
  }
  return names;
}

/** The path of `name` in the directory at `parentPath` ("/" for the root itself, named ""). */
export function childPath(parentPath: string, name: string): string {
  if (name === '') return '/';
  return parentPath === '/' ? `/${name}` : `${parentPath}/${name}`;
}
