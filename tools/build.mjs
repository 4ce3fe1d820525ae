#!/usr/bin/env node
// Compiles the TypeScript and finishes the output folder so that it runs with plain `node`: the files tsc
// does not emit (the .lua scripts) are copied next to the compiled module that loads them.
//   node tools/build.mjs                  everything but the tests (apps, libs, tools, scripts, bench) into dist/
//   node tools/build.mjs --product        only apps/ and libs/: what the container images ship
//   node tools/build.mjs --out-dir DIR    another output folder (tests read it from SHARDWISE_DIST)
// Plain JavaScript, so that it runs before anything is compiled.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { product: { type: 'boolean', default: false }, 'out-dir': { type: 'string', default: 'dist' } } });
const outDir = resolve(root, values['out-dir']);
const project = resolve(root, values.product ? 'tsconfig.product.json' : 'tsconfig.build.json');

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', project, '--outDir', outDir], { cwd: root, stdio: 'inherit' });

mkdirSync(outDir, { recursive: true });
// The libraries' import aliases (package.json "imports", e.g. '#shared') name TypeScript sources, which
// the typecheck and vitest read; the compiled code resolves them through this package.json, next to it,
// to the compiled files in this output folder, wherever that is.
const { imports } = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
const compiled = Object.fromEntries(Object.entries(imports).map(([alias, path]) => [alias, path.replace(/\.ts$/, '.js')]));
writeFileSync(resolve(outDir, 'package.json'), `${JSON.stringify({ type: 'module', private: true, imports: compiled }, null, 2)}\n`);

for (const dir of ['apps', 'libs']) {
  for (const file of readdirSync(resolve(root, dir), { recursive: true, encoding: 'utf8' })) {
    if (file.endsWith('.lua')) cpSync(resolve(root, dir, file), join(outDir, dir, file));
  }
}
