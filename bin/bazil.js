#!/usr/bin/env node
// The `bazil` command (compiled from src-main/cli/bazil.ts by `npm run build`).
import('../dist/src-main/cli/bazil.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('bazil: not built yet; run `npm install` (or `npm run build`) in the Bazil folder first');
    process.exit(1);
  }
  throw error;
});
