/** Loads Bazil's FUSE addon (native/bazil-fuse), built at install. */
import { createRequire } from 'node:module';
import type { Addon } from './addon.js';

const require = createRequire(import.meta.url);

export function loadAddon(): Addon {
  return require('../../../../native/bazil-fuse/build/Release/bazil_fuse.node') as Addon;
}
