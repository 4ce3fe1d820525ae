import { resolve } from 'node:path';

/**
 * Where the built apps are: `dist/` (`npm run build`), or another build folder inside the repository
 * named by SHARDWISE_DIST (e.g. `.dist-mine`, built with `node tools/build.mjs --out-dir .dist-mine`; tsc alone
 * leaves out the .lua scripts and the import aliases' package.json), so that two people can build and test in
 * one checkout without overwriting each other.
 */
export const ROOT = resolve(import.meta.dirname, '../..');
export const DIST = resolve(ROOT, process.env.SHARDWISE_DIST ?? 'dist');
