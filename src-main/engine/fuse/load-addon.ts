/**
 * Loads Bazil's FUSE addon (native/bazil-fuse, built at `npm install`) as the `Addon` of addon.ts.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Addon } from './addon.js';

/** Where the build puts it; this file runs from dist/src-main/engine/fuse/. */
export const ADDON_PATH = fileURLToPath(
  new URL('../../../../native/bazil-fuse/build/Release/bazil_fuse.node', import.meta.url),
);

export function loadAddon(): Addon {
  return createRequire(import.meta.url)(ADDON_PATH) as Addon;
}
