import { resolve } from 'node:path';

/**
 * Where the built apps are: `dist/` (`npm run build`), or another build folder inside the repository
 * named by SHARDWISE_DIST (e.g. `.dist-mine`, built with `npm run build -- --outDir .dist-mine`; tsc alone
 * leaves out the .lua scripts), so that two people can build and test in one checkout without overwriting
 * each other.
 */
export const ROOT = resolve(import.meta.dirname, '../..');
export const DIST = resolve(ROOT, process.env.SHARDWISE_DIST ?? 'dist');
