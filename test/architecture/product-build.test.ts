import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

/** The files `npm run build:product` (what the container images run) compiles. */
function productFiles(): string[] {
  const configPath = resolve(ROOT, 'tsconfig.product.json');
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT, undefined, configPath);
  expect(parsed.errors).toEqual([]);
  return parsed.fileNames.map((f) => relative(ROOT, f));
}

describe('the product build', () => {
  const files = productFiles();

  it('compiles the apps and libraries and none of the development tools', () => {
    expect(files.some((f) => f.startsWith('apps/api/'))).toBe(true);
    expect(files.some((f) => f.startsWith('apps/worker/'))).toBe(true);
    expect(files.some((f) => f.startsWith('libs/models/'))).toBe(true);
    const dev = files.filter((f) => /^(tools|test|bench|scripts)\//.test(f) || f.endsWith('.spec.ts'));
    expect(dev).toEqual([]);
  });

  it('never imports from the development tools', () => {
    const offenders = files.filter((f) => /from\s+'[^']*\/(tools|test|bench|scripts)\//.test(readFileSync(resolve(ROOT, f), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
