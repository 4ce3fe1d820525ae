import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ThreadEntryMissingError } from './errors.js';

/**
 * Where the inference thread's code lives.
 *
 * From dist/ (production) this module is `thread-entry.js` and the thread is
 * its sibling `inference-thread.js`. From TypeScript sources (vitest runs .ts
 * through Vite, which a worker_thread cannot use, and Node 20 cannot run .ts)
 * there is no sibling .js, so we point at the compiled twin under dist/: the
 * tests therefore need a build first (`npm test` builds; the model tests'
 * fixture rebuilds when dist/ is older than the sources).
 */
export function threadEntryUrl(): URL {
  const sibling = new URL('./inference-thread.js', import.meta.url);
  const entry = import.meta.url.endsWith('.ts') ? new URL('../../../dist/libs/models/src/inference-thread.js', import.meta.url) : sibling;
  if (!existsSync(fileURLToPath(entry))) throw new ThreadEntryMissingError(fileURLToPath(entry));
  return entry;
}
