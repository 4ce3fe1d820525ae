// npm run build [-- --outDir <dir>]: tsc, then the files tsc does not emit (the .lua scripts under apps/
// and libs/) copied to the same place in the output, next to the compiled module that loads them.
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const args = process.argv.slice(2);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const { status } = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', ...args], { stdio: 'inherit' });
if (status !== 0) process.exit(status ?? 1);

const at = args.indexOf('--outDir');
const outDir = at >= 0 ? args[at + 1] : 'dist';
for (const root of ['apps', 'libs']) {
  for (const file of readdirSync(root, { recursive: true })) {
    if (file.endsWith('.lua')) cpSync(join(root, file), join(outDir, root, file));
  }
}
