/**
 * Loaded with `node --import` into a process under test: appends the URL of every module it
 * loads (through `import`) to the file named by $BAZIL_RECORD_LOADS, one per line.
 */
import { register } from 'node:module';

const hooks = `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.BAZIL_RECORD_LOADS, resolved.url + '\\n');
  return resolved;
}`;
register('data:text/javascript,' + encodeURIComponent(hooks));
